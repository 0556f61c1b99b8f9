//! The embedded trail: its own SQLite file in the data directory (so trail
//! appends never wait on IAM writes, nor these on them), in WAL mode with a
//! full fsync on every commit.

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::event::wrap_terms;
use crate::{Attribute, LookupResource, Page, Query, Record, TrailError, TrailStore};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/0001_events.sql"))];

/// Columns bound per row; SQLite allows 32766 variables per statement.
const COLUMNS: usize = 12;
/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 32766 / COLUMNS;

/// The SQLite trail.
#[derive(Debug)]
pub struct SqliteTrail {
    pool: SqlitePool,
}

impl SqliteTrail {
    /// File name inside a data directory.
    pub const FILE_NAME: &'static str = "audit.db";

    /// Opens (creating if needed) the trail at `path`.
    pub async fn open(path: &Path) -> Result<Self, TrailError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        // One writer connection is all SQLite allows; the others serve lookups.
        let pool = SqlitePoolOptions::new().max_connections(3).connect_with(options).await?;
        let trail = Self { pool };
        trail.migrate().await?;
        Ok(trail)
    }

    /// Opens an existing trail for reading only (`audit export` beside a
    /// running server).
    pub async fn open_read_only(path: &Path) -> Result<Self, TrailError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        Ok(Self { pool })
    }

    async fn migrate(&self) -> Result<(), TrailError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetch_one(&self.pool).await?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(TrailError::SchemaTooNew { found: current, supported: newest });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied) VALUES (?, unixepoch())")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

fn row_to_record(row: &sqlx::sqlite::SqliteRow) -> Result<(i64, Record), TrailError> {
    let resources: String = row.try_get("resources")?;
    let resources: Vec<LookupResource> = serde_json::from_str(&resources).map_err(|e| TrailError::Corrupt(e.to_string()))?;
    let read_only: i64 = row.try_get("read_only")?;
    Ok((
        row.try_get("seq")?,
        Record {
            event_id: row.try_get("event_id")?,
            event_time: row.try_get("event_time")?,
            account_id: row.try_get("account_id")?,
            event_name: row.try_get("event_name")?,
            event_source: row.try_get("event_source")?,
            username: row.try_get("username")?,
            access_key_id: row.try_get("access_key_id")?,
            read_only: read_only != 0,
            resources,
            // Only used to match lookups; not read back.
            extra_names: Vec::new(),
            body: row.try_get("body")?,
        },
    ))
}

const SELECT: &str = "SELECT seq, event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, body FROM events";

#[async_trait]
impl TrailStore for SqliteTrail {
    async fn append(&self, records: &[Record]) -> Result<(), TrailError> {
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, names, types, body) ",
            );
            qb.push_values(chunk, |mut b, r| {
                let resources = serde_json::to_string(&r.resources).unwrap_or_else(|_| "[]".to_owned());
                let names = wrap_terms(r.resources.iter().map(|x| x.name.as_str()).chain(r.extra_names.iter().map(String::as_str)));
                let types = wrap_terms(r.resources.iter().map(|x| x.kind.as_str()));
                b.push_bind(r.event_id.clone())
                    .push_bind(r.event_time)
                    .push_bind(r.account_id.clone())
                    .push_bind(r.event_name.clone())
                    .push_bind(r.event_source.clone())
                    .push_bind(r.username.clone())
                    .push_bind(r.access_key_id.clone())
                    .push_bind(i64::from(r.read_only))
                    .push_bind(resources)
                    .push_bind(names)
                    .push_bind(types)
                    .push_bind(r.body.clone());
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lookup(&self, q: &Query) -> Result<Page, TrailError> {
        let mut qb = QueryBuilder::<Sqlite>::new(SELECT);
        qb.push(" WHERE account_id = ").push_bind(q.account_id.clone());
        if let Some(start) = q.start {
            qb.push(" AND event_time >= ").push_bind(start);
        }
        if let Some(end) = q.end {
            qb.push(" AND event_time <= ").push_bind(end);
        }
        if let Some(before) = q.before_seq {
            qb.push(" AND seq < ").push_bind(before);
        }
        match &q.attribute {
            None => {}
            Some(Attribute::EventId(v)) => {
                qb.push(" AND event_id = ").push_bind(v.clone());
            }
            Some(Attribute::EventName(v)) => {
                qb.push(" AND event_name = ").push_bind(v.clone());
            }
            Some(Attribute::Username(v)) => {
                qb.push(" AND username = ").push_bind(v.clone());
            }
            Some(Attribute::AccessKeyId(v)) => {
                qb.push(" AND access_key_id = ").push_bind(v.clone());
            }
            Some(Attribute::EventSource(v)) => {
                qb.push(" AND event_source = ").push_bind(v.clone());
            }
            Some(Attribute::ReadOnly(v)) => {
                qb.push(" AND read_only = ").push_bind(i64::from(*v));
            }
            Some(Attribute::ResourceName(v)) => {
                qb.push(" AND instr(names, ").push_bind(format!("\n{v}\n")).push(") > 0");
            }
            Some(Attribute::ResourceType(v)) => {
                qb.push(" AND instr(types, ").push_bind(format!("\n{v}\n")).push(") > 0");
            }
        }
        // One more than asked tells whether a next page exists.
        let limit = i64::try_from(q.limit).unwrap_or(50);
        qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut records = rows.iter().map(row_to_record).collect::<Result<Vec<_>, _>>()?;
        let next = if records.len() > q.limit {
            records.truncate(q.limit);
            records.last().map(|(seq, _)| *seq)
        } else {
            None
        };
        Ok(Page { records, next })
    }

    async fn scan(&self, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize) -> Result<Vec<(i64, Record)>, TrailError> {
        let mut qb = QueryBuilder::<Sqlite>::new(SELECT);
        qb.push(" WHERE seq > ").push_bind(after_seq);
        if let Some(s) = since {
            qb.push(" AND event_time >= ").push_bind(s);
        }
        if let Some(u) = until {
            qb.push(" AND event_time <= ").push_bind(u);
        }
        qb.push(" ORDER BY seq LIMIT ").push_bind(i64::try_from(limit).unwrap_or(1000));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_record).collect()
    }

    async fn purge(&self, before: i64) -> Result<u64, TrailError> {
        // Oldest rows first, a bounded chunk per statement, so a large purge
        // never holds the write lock long and needs no index on time.
        let mut total = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 5000) AND event_time < ?",
            )
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += done;
            if done < 5000 {
                return Ok(total);
            }
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
