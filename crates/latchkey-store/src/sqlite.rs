//! The embedded backend: one SQLite file in the data directory, in WAL mode
//! with full fsync on commit, so an acknowledged write survives a crash.
//! The statements are [`crate::shared`]'s; this file connects and says what
//! is SQLite's ([`Dialect`]).

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::dialect::Dialect;
use crate::{Bootstrap, Loaded, MasterKey, Op, Store, StoreError, Update, shared};

impl Dialect for Sqlite {
    const SCHEMA_WORDS: &'static [(&'static str, &'static str)] =
        &[("{int}", "INTEGER"), ("{bool}", "INTEGER"), ("{blob}", "BLOB"), ("{insertion_order}", "")];
    const INSERTION_ORDER: &'static str = "rowid";
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    master: MasterKey,
}

impl SqliteStore {
    /// File name of the database inside a data directory.
    pub const FILE_NAME: &'static str = "latchkey.db";

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path, master: MasterKey) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        shared::migrate::<Sqlite>(&mut *pool.acquire().await?).await?;
        shared::check_master_key(&pool, &master).await?;
        Ok(Self { pool, master })
    }

    /// Whether the database at `path` is initialised, read without locks or
    /// writes of any kind (not even WAL bookkeeping), so that a refused
    /// `init` leaves every file as it was.
    pub async fn probe_initialized(path: &Path) -> Result<bool, StoreError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let found = shared::is_initialized(&pool).await;
        pool.close().await;
        // No meta table yet means a store whose first migration never ran.
        Ok(matches!(found, Ok(true)))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn is_initialized(&self) -> Result<bool, StoreError> {
        shared::is_initialized(&self.pool).await
    }

    async fn initialize(&self, b: &Bootstrap) -> Result<(), StoreError> {
        shared::initialize(&self.pool, &self.master, b).await
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        shared::load(&self.pool, &self.master).await
    }

    async fn load_since(&self, version: i64) -> Result<Update, StoreError> {
        shared::load_since(&self.pool, &self.master, version).await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        shared::version(&self.pool).await
    }

    async fn close(&self) {
        // Closing the last connection checkpoints the WAL into the database file.
        self.pool.close().await;
    }

    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError> {
        shared::apply(&self.pool, &self.master, ops).await
    }

    async fn apply_since(&self, ops: &[Op], since: i64) -> Result<Update, StoreError> {
        shared::apply_since(&self.pool, &self.master, ops, since).await
    }

    async fn import(&self, loaded: &Loaded) -> Result<(), StoreError> {
        shared::import(&self.pool, &self.master, loaded).await
    }
}
