/// What can go wrong in a backend. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `initialize` ran on an initialised store.
    #[error("the store is already initialised")]
    AlreadyInitialized,
    /// A uniqueness constraint refused the write (for example a user name
    /// taken by a concurrent request).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the batch depends on is gone, or a row still depends on the one
    /// being deleted.
    #[error("constraint: {0}")]
    Constraint(String),
    /// The master key does not open what the store holds.
    #[error(transparent)]
    MasterKey(#[from] crate::MasterKeyError),
    /// The store's schema is newer than this binary understands.
    #[error("the store's schema version {found} is newer than this latchkey supports ({supported}); upgrade latchkey")]
    SchemaTooNew {
        /// Version found in the store.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// Data read back does not have the shape written.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// `import` into a store that already holds data.
    #[error("the target store is not empty; import needs a fresh database")]
    NotEmpty,
    /// The backend failed (I/O, connection, timeout, …).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Conflict(db.message().to_owned()),
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::Constraint(db.message().to_owned());
                }
                // SQLite reports some foreign-key failures (a parent row
                // deleted while children remain) with an extended code sqlx
                // does not classify; PostgreSQL always classifies them.
                _ if db.message().contains("FOREIGN KEY constraint failed") => {
                    return StoreError::Constraint(db.message().to_owned());
                }
                _ => {}
            }
        }
        StoreError::Backend(e.to_string())
    }
}
