//! The lookup index: one narrow SQLite row per event, pointing at the
//! event's bytes in its segment. Rebuilt from the segments when behind or
//! torn, so it commits without a journal on disk and without waiting for
//! the disk.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::{LookupResource, Query, Record, TrailError, sql};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/0001_events.sql"))];

/// Columns bound per row; SQLite allows 32766 variables per statement.
const COLUMNS: usize = 15;
/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 32766 / COLUMNS;

/// Where an event's JSON lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: i64,
    pub offset: i64,
    pub len: i64,
}

/// A row to index: the record's columns and where its event is.
#[derive(Debug)]
pub(crate) struct Entry {
    pub seq: i64,
    pub record: Record,
    pub at: Location,
}

/// A lookup hit: everything but the event's JSON, which the caller reads
/// from the segment.
#[derive(Debug)]
pub(crate) struct Hit {
    pub seq: i64,
    pub record: Record,
    pub at: Location,
}

/// Present while a process has the index open. The index is derived data,
/// so it is written without a journal on disk and without an fsync per
/// commit (a WAL and its checkpoints were a third of the indexer's time in
/// perf); a process that stops without closing it may leave it torn, and
/// the next open finds this file and starts the index afresh from the
/// segments.
const OPEN_MARKER: &str = "index.open";

#[derive(Debug)]
pub(crate) struct Index {
    pool: SqlitePool,
    path: PathBuf,
}

impl Index {
    /// Opens the index at `path`, or starts it afresh when the last process
    /// to open it did not close it.
    pub async fn open(path: &Path) -> Result<Self, TrailError> {
        let marker = path.with_file_name(OPEN_MARKER);
        if marker.exists() {
            tracing::info!("the audit index was not closed cleanly; rebuilding it from the segments");
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                match std::fs::remove_file(&name) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(TrailError::Io(e.to_string())),
                    _ => {}
                }
            }
        }
        std::fs::File::create(&marker).map_err(|e| TrailError::Io(e.to_string()))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // In memory, the journal still rolls back a failed statement.
            .journal_mode(SqliteJournalMode::Memory)
            .synchronous(SqliteSynchronous::Off)
            // 8 MiB of page cache instead of 2: with 2, a round of inserts
            // into the table and its four indexes spilled pages mid-
            // transaction (`pagerStress` in perf); 9 % less indexing time.
            .pragma("cache_size", "-8192")
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(3).connect_with(options).await?;
        let index = Self { pool, path: path.to_owned() };
        index.migrate().await?;
        Ok(index)
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

    /// The newest indexed sequence number (0 when empty).
    pub async fn last_seq(&self) -> Result<i64, TrailError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.pool).await?)
    }

    /// Indexes `entries` in one transaction. Rows already present (a
    /// catch-up that overlaps) are left as they are.
    pub async fn insert(&self, entries: &[Entry]) -> Result<(), TrailError> {
        let mut tx = self.pool.begin().await?;
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO events (seq, event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, names, types, segment, offset, len) ",
            );
            qb.push_values(chunk, |mut b, e| {
                let r = &e.record;
                b.push_bind(e.seq)
                    .push_bind(r.event_id.as_str())
                    .push_bind(r.event_time)
                    .push_bind(r.account_id.as_str())
                    .push_bind(r.event_name.as_str())
                    .push_bind(r.event_source.as_str())
                    .push_bind(r.username.as_deref())
                    .push_bind(r.access_key_id.as_deref())
                    .push_bind(i64::from(r.read_only))
                    .push_bind(r.resources_json())
                    .push_bind(r.name_terms())
                    .push_bind(r.type_terms())
                    .push_bind(e.at.segment)
                    .push_bind(e.at.offset)
                    .push_bind(e.at.len);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One page of `q`, newest first, one more row than asked when a next
    /// page exists.
    pub async fn lookup(&self, q: &Query) -> Result<Vec<Hit>, TrailError> {
        let mut qb = QueryBuilder::<Sqlite>::new(SELECT);
        sql::push_lookup(&mut qb, q, "instr");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_hit).collect()
    }

    /// Rows after `after_seq` in `[since, until]`, oldest first.
    pub async fn scan(&self, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize) -> Result<Vec<Hit>, TrailError> {
        let mut qb = QueryBuilder::<Sqlite>::new(SELECT);
        sql::push_scan(&mut qb, since, until, after_seq, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_hit).collect()
    }

    /// The newest event time in `segment`, if it has indexed events.
    pub async fn newest_time_in(&self, segment: i64) -> Result<Option<i64>, TrailError> {
        Ok(sqlx::query_scalar("SELECT MAX(event_time) FROM events WHERE segment = ?").bind(segment).fetch_one(&self.pool).await?)
    }

    /// Forgets `segment`'s events.
    pub async fn drop_segment(&self, segment: i64) -> Result<u64, TrailError> {
        Ok(sqlx::query("DELETE FROM events WHERE segment = ?").bind(segment).execute(&self.pool).await?.rows_affected())
    }

    /// Closes the index; once its file is on disk, the next open trusts it.
    pub async fn close(&self) {
        self.pool.close().await;
        if std::fs::File::open(&self.path).and_then(|f| f.sync_all()).is_ok() {
            let _ = std::fs::remove_file(self.path.with_file_name(OPEN_MARKER));
        }
    }
}

const SELECT: &str = "SELECT seq, event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, segment, offset, len FROM events";

fn row_to_hit(row: &sqlx::sqlite::SqliteRow) -> Result<Hit, TrailError> {
    let resources: String = row.try_get("resources")?;
    let resources: Vec<LookupResource> = serde_json::from_str(&resources).map_err(|e| TrailError::Corrupt(e.to_string()))?;
    let read_only: i64 = row.try_get("read_only")?;
    Ok(Hit {
        seq: row.try_get("seq")?,
        record: Record {
            event_id: row.try_get("event_id")?,
            event_time: row.try_get("event_time")?,
            account_id: row.try_get("account_id")?,
            event_name: row.try_get("event_name")?,
            event_source: row.try_get("event_source")?,
            username: row.try_get("username")?,
            access_key_id: row.try_get("access_key_id")?,
            read_only: read_only != 0,
            resources,
            extra_names: Vec::new(),
            body: String::new(),
        },
        at: Location { segment: row.try_get("segment")?, offset: row.try_get("offset")?, len: row.try_get("len")? },
    })
}
