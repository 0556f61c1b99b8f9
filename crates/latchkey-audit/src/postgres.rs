//! The shared trail for several nodes: every node's events in one
//! PostgreSQL table, so a lookup on any node sees them all.
//!
//! A call still waits only for its node's local disk: records are made
//! durable in a local spool ([`SegmentTrail`] without its index), and a
//! forwarder task copies the spool into PostgreSQL. While the database is
//! unreachable, credential-issuing calls keep working as long as the spool
//! can be written; when it returns, the forwarder catches up. Every event
//! id is unique in the table and inserts skip ids already there, so a batch
//! sent twice (a commit whose answer was lost) lands once. Each node keeps
//! how far it has forwarded in `audit_nodes`, under a node id stored in its
//! spool directory.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use tokio::sync::{Notify, watch};

use crate::segment::{Cursor, read_from};
use crate::{LookupResource, Page, Query, Record, SegmentTrail, TrailError, TrailStore, sql};

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS audit_events (
    seq           BIGSERIAL PRIMARY KEY,
    event_id      TEXT    NOT NULL UNIQUE,
    event_time    BIGINT  NOT NULL,
    account_id    TEXT    NOT NULL,
    event_name    TEXT    NOT NULL,
    event_source  TEXT    NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    read_only     BOOLEAN NOT NULL,
    resources     TEXT    NOT NULL,
    names         TEXT    NOT NULL,
    types         TEXT    NOT NULL,
    body          TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_account ON audit_events (account_id, seq);
CREATE INDEX IF NOT EXISTS audit_events_name ON audit_events (account_id, event_name, seq);
CREATE INDEX IF NOT EXISTS audit_events_user ON audit_events (account_id, username, seq);
CREATE INDEX IF NOT EXISTS audit_events_key ON audit_events (account_id, access_key_id, seq);
CREATE TABLE IF NOT EXISTS audit_nodes (
    node      TEXT   PRIMARY KEY,
    forwarded BIGINT NOT NULL
);
";

/// Rows per INSERT (PostgreSQL allows 65535 parameters). Each connection
/// keeps its buffers at the size of the largest statement it sent: at 2000
/// rows (~3 MB with the events) a node under GetCallerIdentity load peaked
/// at 62-84 MB RSS, at 250 rows 35 MB, at the same throughput.
const ROWS_PER_STATEMENT: usize = 250;
/// How often the forwarder looks at the spool.
const FORWARD_TICK: Duration = Duration::from_millis(100);
/// How long a lookup waits for this node's events to be forwarded.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// The PostgreSQL trail, with its local spool.
#[derive(Debug)]
pub struct PgTrail {
    spool: Arc<SegmentTrail>,
    pool: PgPool,
    forwarded: watch::Receiver<i64>,
    hurry: Arc<Notify>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Drop for PgTrail {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// This node's id, kept in the spool directory so that a restart resumes
/// forwarding where it stopped.
fn node_id(dir: &Path) -> Result<String, TrailError> {
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let mut bytes = [0u8; 12];
            getrandom::fill(&mut bytes).map_err(|e| TrailError::Io(e.to_string()))?;
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(&path, &id).map_err(|e| TrailError::Io(e.to_string()))?;
            Ok(id)
        }
    }
}

impl PgTrail {
    /// Opens the spool in `spool_dir` and connects to `url`. The database
    /// need not answer now: the schema is made, and forwarding starts, once
    /// it does.
    pub async fn open(spool_dir: &Path, url: &str) -> Result<Self, TrailError> {
        let spool = Arc::new(SegmentTrail::open_spool(spool_dir).await?);
        let node = node_id(spool_dir)?;
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| TrailError::Io(format!("invalid database URL: {e}")))?
            .application_name("latchkey-audit")
            .options([("statement_timeout", "10000"), ("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new().max_connections(3).acquire_timeout(Duration::from_secs(2)).connect_lazy_with(options);
        let (tx, forwarded) = watch::channel(0);
        let hurry = Arc::new(Notify::new());
        let forwarder = tokio::spawn(forward(spool.clone(), pool.clone(), node, tx, hurry.clone()));
        Ok(Self { spool, pool, forwarded, hurry, forwarder })
    }

    /// Waits (bounded) until every event durable in the spool is in the
    /// database.
    async fn catch_up(&self) -> Result<(), TrailError> {
        let target = self.spool.durable_seq();
        let mut rx = self.forwarded.clone();
        if *rx.borrow() < target {
            self.hurry.notify_one();
        }
        match tokio::time::timeout(CATCH_UP_WAIT, rx.wait_for(|v| *v >= target)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(TrailError::Unavailable),
        }
    }
}

async fn ensure_schema(pool: &PgPool) -> Result<(), TrailError> {
    let mut tx = pool.begin().await?;
    // Nodes starting together create the tables once.
    sqlx::query("SELECT pg_advisory_xact_lock(7300734)").execute(&mut *tx).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Copies the spool into the database, forever: resumes from what the
/// database says this node forwarded, sends one statement's worth at a
/// time, and after an error reconnects and resumes.
async fn forward(spool: Arc<SegmentTrail>, pool: PgPool, node: String, forwarded: watch::Sender<i64>, hurry: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match forward_until_error(&spool, &pool, &node, &forwarded, &hurry).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "forwarding audit events to PostgreSQL failed; they stay in the local spool and will be retried");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn forward_until_error(
    spool: &SegmentTrail,
    pool: &PgPool,
    node: &str,
    forwarded: &watch::Sender<i64>,
    hurry: &Notify,
) -> Result<(), TrailError> {
    ensure_schema(pool).await?;
    let mut done: i64 = sqlx::query_scalar("SELECT forwarded FROM audit_nodes WHERE node = $1")
        .bind(node)
        .fetch_optional(pool)
        .await?
        .unwrap_or(0);
    forwarded.send_replace(done);
    let mut cursor = Cursor::default();
    let mut tick = tokio::time::interval(FORWARD_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut caught_up = true;
    loop {
        // Between rounds, wait for the tick (or a lookup): each round is one
        // database commit, so under load a round carries a tick's worth of
        // events instead of one group commit's.
        if caught_up {
            tokio::select! {
                _ = tick.tick() => {}
                () = hurry.notified() => {}
            }
        }
        let now = spool.durable_seq();
        if now <= done {
            caught_up = true;
            continue;
        }
        let dir = spool.dir().to_owned();
        let (entries, next) = tokio::task::spawn_blocking(move || read_from(&dir, cursor, now, ROWS_PER_STATEMENT, true))
            .await
            .map_err(|_| TrailError::Unavailable)??;
        // Lines at or below `done` were forwarded before a restart.
        let fresh: Vec<_> = entries.into_iter().filter(|e| e.seq > done).collect();
        cursor = next;
        let Some(last) = fresh.last().map(|e| e.seq) else {
            caught_up = true;
            continue;
        };
        let mut tx = pool.begin().await?;
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO audit_events (event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, names, types, body) ",
        );
        qb.push_values(&fresh, |mut b, e| {
            let r = &e.record;
            b.push_bind(r.event_id.as_str())
                .push_bind(r.event_time)
                .push_bind(r.account_id.as_str())
                .push_bind(r.event_name.as_str())
                .push_bind(r.event_source.as_str())
                .push_bind(r.username.as_deref())
                .push_bind(r.access_key_id.as_deref())
                .push_bind(r.read_only)
                .push_bind(r.resources_json())
                .push_bind(r.name_terms())
                .push_bind(r.type_terms())
                .push_bind(r.body.as_str());
        });
        qb.push(" ON CONFLICT (event_id) DO NOTHING");
        qb.build().execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO audit_nodes (node, forwarded) VALUES ($1, $2) ON CONFLICT (node) DO UPDATE SET forwarded = EXCLUDED.forwarded",
        )
        .bind(node)
        .bind(last)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done = last;
        caught_up = done >= now;
        forwarded.send_replace(done);
        // Forwarded segments are no longer needed locally.
        if let Err(e) = spool.drop_segments_through(done) {
            tracing::warn!(error = %e, "could not remove forwarded audit segments");
        }
    }
}

const SELECT: &str =
    "SELECT seq, event_id, event_time, account_id, event_name, event_source, username, access_key_id, read_only, resources, body FROM audit_events";

fn row_to_record(row: &sqlx::postgres::PgRow) -> Result<(i64, Record), TrailError> {
    let resources: String = row.try_get("resources")?;
    let resources: Vec<LookupResource> = serde_json::from_str(&resources).map_err(|e| TrailError::Corrupt(e.to_string()))?;
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
            read_only: row.try_get("read_only")?,
            resources,
            extra_names: Vec::new(),
            body: row.try_get("body")?,
        },
    ))
}

#[async_trait]
impl TrailStore for PgTrail {
    async fn append(&self, records: &[Record]) -> Result<(), TrailError> {
        // Durable locally; the forwarder ships it within a tick.
        self.spool.append(records).await
    }

    async fn lookup(&self, q: &Query) -> Result<Page, TrailError> {
        self.catch_up().await?;
        let mut qb = QueryBuilder::<Postgres>::new(SELECT);
        sql::push_lookup(&mut qb, q, "strpos");
        let rows = qb.build().fetch_all(&self.pool).await?;
        let records = rows.iter().map(row_to_record).collect::<Result<Vec<_>, _>>()?;
        let (records, next) = sql::page(records, q.limit, |(seq, _)| *seq);
        Ok(Page { records, next })
    }

    async fn scan(&self, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize) -> Result<Vec<(i64, Record)>, TrailError> {
        self.catch_up().await?;
        let mut qb = QueryBuilder::<Postgres>::new(SELECT);
        sql::push_scan(&mut qb, since, until, after_seq, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_record).collect()
    }

    async fn purge(&self, before: i64) -> Result<u64, TrailError> {
        // At a first start the forwarder may not have made the table yet
        // (it runs once the database answers); purging is hourly, so making
        // sure here costs nothing worth saving.
        ensure_schema(&self.pool).await?;
        Ok(sqlx::query("DELETE FROM audit_events WHERE event_time < $1").bind(before).execute(&self.pool).await?.rows_affected())
    }

    async fn close(&self) {
        // Best effort: whatever is not forwarded stays in the spool for the
        // next start.
        let _ = self.catch_up().await;
        self.pool.close().await;
    }
}

/// Writes every event in the shared trail at `url` within `[since, until]`,
/// oldest first, one JSON object per line. Events still in a node's spool
/// (not yet forwarded) are not included.
pub async fn export_postgres(url: &str, since: Option<i64>, until: Option<i64>, out: &mut dyn std::io::Write) -> Result<u64, TrailError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| TrailError::Io(format!("invalid database URL: {e}")))?;
    let pool = PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect_with(options).await?;
    let mut after = 0i64;
    let mut written = 0;
    loop {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT seq, body FROM audit_events WHERE seq > ");
        qb.push_bind(after);
        if let Some(s) = since {
            qb.push(" AND event_time >= ").push_bind(s);
        }
        if let Some(u) = until {
            qb.push(" AND event_time <= ").push_bind(u);
        }
        qb.push(" ORDER BY seq LIMIT 1000");
        let rows = match qb.build().fetch_all(&pool).await {
            Ok(rows) => rows,
            // No table yet: no node has forwarded anything.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => break,
            Err(e) => return Err(e.into()),
        };
        let Some(last) = rows.last() else { break };
        after = last.try_get("seq")?;
        for row in &rows {
            let body: String = row.try_get("body")?;
            out.write_all(body.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(|e| TrailError::Io(e.to_string()))?;
            written += 1;
        }
    }
    pool.close().await;
    Ok(written)
}
