//! Durable state for latchkey: the [`Store`] interface and its SQLite backend.
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

mod error;
mod master_key;
mod ops;
mod sqlite;
pub use master_key::write_secret_file;

pub use error::StoreError;
pub use master_key::{MasterKey, MasterKeyError};
pub use ops::{Bootstrap, CreateAccountRequest, Loaded, LoadedAccessKey, Op, Scp, TokenKeyMaterial};
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

    /// The current change version; it grows with every applied batch.
    async fn version(&self) -> Result<i64, StoreError>;

    /// Flushes and closes the backend; later calls fail.
    async fn close(&self);

    /// Applies `ops` in one transaction and returns the new version.
    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError>;
}
