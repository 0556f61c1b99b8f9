//! The PostgreSQL backend, for several nodes sharing one database.
//!
//! Same tables, same statements, same error mapping as the SQLite backend:
//! both run [`crate::shared`]. What is particular to sharing lives here:
//! migrations run under an advisory lock; every committed batch is announced
//! with `NOTIFY latchkey_changes, '<version>'`; [`Store::changes`] follows
//! those announcements (and polls the version, so a lost one heals); loads
//! read one snapshot; and every call is bounded in time so that during an
//! outage writes fail fast rather than hang.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use tokio::sync::watch;

use crate::dialect::{Arg, Dialect, args};
use crate::{Bootstrap, Loaded, MasterKey, Op, Store, StoreError, Update, shared};

impl Dialect for Postgres {
    const SCHEMA_WORDS: &'static [(&'static str, &'static str)] =
        &[("{int}", "BIGINT"), ("{bool}", "BOOLEAN"), ("{blob}", "BYTEA"), ("{insertion_order}", "seq BIGSERIAL,")];
    const INSERTION_ORDER: &'static str = "seq";
    const BEGIN_LOAD: Option<&'static str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");

    /// Every committed batch is announced to the other nodes' followers.
    fn announce(version: i64) -> Option<(&'static str, Vec<Arg<'static>>)> {
        Some(("SELECT pg_notify($1, $2)", args![CHANNEL, version.to_string()]))
    }
}

/// The channel every committed batch is announced on, with its version.
pub const CHANNEL: &str = "latchkey_changes";

/// Key of the advisory lock that serialises migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x6c61_7463_686b_6579; // "latchkey"

/// How long a caller waits for a pooled connection before the store counts
/// as unavailable: writes fail fast instead of hanging during an outage.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on any one store call, network stalls included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Server-side limit on one statement.
const STATEMENT_TIMEOUT: &str = "4s";
/// How often the change follower asks for the version even without a
/// notification, so a missed one heals.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// The PostgreSQL store, shared by several nodes.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    master: MasterKey,
    changes: watch::Sender<i64>,
    follower: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Runs a store call under [`CALL_TIMEOUT`].
async fn bounded<T>(f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Backend("the database did not answer in time".into())))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), brings the schema up to date and
    /// checks that `master` opens what the database holds.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?
            .application_name("latchkey")
            .options([("statement_timeout", STATEMENT_TIMEOUT), ("client_min_messages", "warning")]);
        let pool = bounded(async {
            Ok(PgPoolOptions::new().max_connections(8).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?)
        })
        .await?;
        let (changes, _) = watch::channel(0);
        let store = Self { pool, master, changes, follower: std::sync::Mutex::new(None) };
        store.migrate().await?;
        shared::check_master_key(&store.pool, &store.master).await?;
        Ok(store)
    }

    /// Whether the database at `url` is initialised, read without creating
    /// or changing anything (no migration runs), so a refused `init` or
    /// `migrate` leaves the database as it was.
    pub async fn probe_initialized(url: &str) -> Result<bool, StoreError> {
        bounded(async {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
            let found: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialized'")
                .fetch_optional(&mut conn)
                .await
                .or_else(|e| match &e {
                    // No meta table: a database latchkey never migrated.
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                    _ => Err(e),
                })?;
            sqlx::Connection::close(conn).await?;
            Ok(found.is_some())
        })
        .await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // One connection holds the advisory lock while it migrates, so nodes
        // started together apply each migration once.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        let result = shared::migrate::<Postgres>(&mut conn).await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        result
    }

    /// Follows other writers: LISTEN on [`CHANNEL`], plus a version poll every
    /// [`RECONCILE_EVERY`] and after each (re)connection; reconnects with
    /// backoff. Every value seen is published, even an unchanged one, so a
    /// follower whose last reload failed tries again.
    async fn follow(pool: PgPool, tx: watch::Sender<i64>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = match tokio::time::timeout(CALL_TIMEOUT, listener).await {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis(), "cannot listen for store changes; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
                Err(_) => {
                    tracing::warn!(retry_ms = backoff.as_millis(), "listening for store changes timed out; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(250);
            // Whatever was committed while not listening.
            Self::poll(&pool, &tx).await;
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    n = listener.try_recv() => match n {
                        Ok(Some(n)) => {
                            if let Ok(v) = n.payload().parse::<i64>() {
                                tx.send_replace(v);
                            }
                        }
                        // Connection lost and re-established: notifications may be lost.
                        Ok(None) => Self::poll(&pool, &tx).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the store change listener; reconnecting");
                            break;
                        }
                    },
                    _ = tick.tick() => Self::poll(&pool, &tx).await,
                }
            }
        }
    }

    async fn poll(pool: &PgPool, tx: &watch::Sender<i64>) {
        match tokio::time::timeout(CALL_TIMEOUT, shared::version(pool)).await {
            Ok(Ok(v)) => {
                tx.send_replace(v);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "store version poll failed"),
            Err(_) => tracing::debug!("store version poll timed out"),
        }
    }
}

/// How long a full load may take: it reads every table.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[async_trait]
impl Store for PostgresStore {
    async fn is_initialized(&self) -> Result<bool, StoreError> {
        bounded(shared::is_initialized(&self.pool)).await
    }

    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<(), StoreError> {
        bounded(shared::initialize(&self.pool, &self.master, bootstrap)).await
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        tokio::time::timeout(LOAD_TIMEOUT, shared::load(&self.pool, &self.master))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("loading from the database timed out".into())))
    }

    async fn load_since(&self, version: i64) -> Result<Update, StoreError> {
        // A healing full load may take as long as a start-up's.
        tokio::time::timeout(LOAD_TIMEOUT, shared::load_since(&self.pool, &self.master, version))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("loading from the database timed out".into())))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        bounded(shared::version(&self.pool)).await
    }

    async fn close(&self) {
        if let Ok(mut f) = self.follower.lock()
            && let Some(task) = f.take()
        {
            task.abort();
        }
        self.pool.close().await;
    }

    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError> {
        bounded(shared::apply(&self.pool, &self.master, ops)).await
    }

    async fn apply_since(&self, ops: &[Op], since: i64) -> Result<Update, StoreError> {
        // It may read everything (a gap in the log): a load's time limit.
        tokio::time::timeout(LOAD_TIMEOUT, shared::apply_since(&self.pool, &self.master, ops, since))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("writing to the database timed out".into())))
    }

    async fn import(&self, loaded: &Loaded) -> Result<(), StoreError> {
        tokio::time::timeout(LOAD_TIMEOUT, shared::import(&self.pool, &self.master, loaded))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("importing into the database timed out".into())))
    }

    fn changes(&self) -> Option<watch::Receiver<i64>> {
        // The follower starts with the first subscriber: `init` and
        // `migrate` never need one.
        if let Ok(mut f) = self.follower.lock()
            && f.is_none()
        {
            *f = Some(tokio::spawn(Self::follow(self.pool.clone(), self.changes.clone())));
        }
        Some(self.changes.subscribe())
    }
}
