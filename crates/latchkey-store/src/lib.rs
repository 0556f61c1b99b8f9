//! Durable state for latchkey: the [`Store`] interface, its embedded SQLite
//! backend and its PostgreSQL backend for several nodes.
//!
//! Handlers never see SQL. They read an in-memory snapshot built from
//! [`Store::load`], decide what must change, and hand the store a batch of
//! typed [`Op`]s that it applies in one transaction: a crash leaves the store
//! as before or after the batch, never half. Every batch bumps the store's
//! version so that other readers can tell their snapshot is stale.
//!
//! Secret material (secret access keys, later MFA seeds and token keys) is
//! sealed with AES-256-GCM under the [`MasterKey`] before it reaches a
//! backend, with the row's identity bound as associated data so a ciphertext
//! cannot be moved to another row.
#![deny(missing_docs)]

mod dialect;
mod error;
mod master_key;
mod ops;
mod postgres;
mod shared;
mod sqlite;
pub use master_key::write_secret_file;

pub use error::StoreError;
pub use master_key::{MasterKey, MasterKeyError};
pub use ops::{Bootstrap, CreateAccountRequest, Loaded, LoadedAccessKey, Op, Scp, TokenKeyMaterial, Touched, Update};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;

/// The storage interface every backend implements.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Whether [`Store::initialize`] has run on this store.
    async fn is_initialized(&self) -> Result<bool, StoreError>;

    /// Creates the management account and its root key, once. A second call
    /// fails with [`StoreError::AlreadyInitialized`] and changes nothing.
    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<(), StoreError>;

    /// Everything the request path needs, secrets decrypted.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// What changed since `version` (a snapshot's): nothing, the rows of the
    /// entities the change log names for the batches since, or everything
    /// when the log no longer reaches back that far. One read transaction.
    async fn load_since(&self, version: i64) -> Result<Update, StoreError>;

    /// The current change version; it grows with every applied batch.
    async fn version(&self) -> Result<i64, StoreError>;

    /// Flushes and closes the backend; later calls fail.
    async fn close(&self);

    /// Applies `ops` in one transaction and returns the new version. What
    /// they change ([`Touched::of`]) is recorded under that version in the
    /// change log, in the same transaction.
    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError>;

    /// Applies `ops` as [`Store::apply`] does, then, in the same
    /// transaction, reads what changed since `since` (this batch and any
    /// other committed after `since`) as [`Store::load_since`] would: the
    /// writer's refresh without a second transaction.
    async fn apply_since(&self, ops: &[Op], since: i64) -> Result<Update, StoreError>;

    /// Writes everything another store's [`Store::load`] returned into this
    /// one, which must be empty (never initialised), in one transaction:
    /// same ids, same secrets (sealed again under this store's master key),
    /// same token keys, and the source's version. The store is initialised
    /// afterwards, for the source's management account.
    async fn import(&self, loaded: &Loaded) -> Result<(), StoreError>;

    /// Versions committed by any writer, for a backend shared by several
    /// nodes: the receiver sees a value after each notified change and at
    /// each periodic reconciliation (also after a reconnect), so a node that
    /// compares it with its snapshot's version notices others' writes.
    /// `None` for a backend only this process writes to.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
}
