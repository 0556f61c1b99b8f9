//! latchkey's audit trail.
//!
//! Every API call becomes a record in CloudTrail's shape ([`Event`]), stored
//! as a [`Record`]: the columns LookupEvents filters on plus the event's JSON.
//! [`Trail`] is the write side: a bounded queue and one writer task that
//! commits whatever is queued in one transaction (group commit), so a call
//! that must not answer before its record is durable waits for one fsync
//! shared with every call queued alongside it. [`TrailStore`] is the storage
//! interface; [`SegmentTrail`] the embedded backend: append-only segment
//! files in the data directory, with a SQLite index filled behind them.
#![deny(missing_docs)]

mod event;
mod index;
mod postgres;
mod segment;
mod sql;
mod writer;

pub use event::{
    EVENT_VERSION, Event, LookupResource, Record, Resource, SessionAttributes, SessionContext, SessionIssuer, UserIdentity,
};
pub use postgres::{PgTrail, export_postgres};
pub use segment::{SegmentTrail, export};
pub use writer::{CommitObserver, Trail};

use async_trait::async_trait;

/// What went wrong with the trail.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// The index database failed.
    #[error("audit trail index: {0}")]
    Database(#[from] sqlx::Error),
    /// A segment file could not be read or written.
    #[error("audit trail file: {0}")]
    Io(String),
    /// The trail's schema is newer than this binary.
    #[error("the audit trail's schema version {found} is newer than this latchkey supports ({supported})")]
    SchemaTooNew {
        /// Found in the database.
        found: i64,
        /// The newest this binary knows.
        supported: i64,
    },
    /// A stored row did not decode.
    #[error("corrupt audit record: {0}")]
    Corrupt(String),
    /// The writer could not make a record durable (or has stopped).
    #[error("the audit trail is unavailable")]
    Unavailable,
}

/// One LookupEvents attribute (AWS allows one per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `EventId`.
    EventId(String),
    /// `EventName`.
    EventName(String),
    /// `Username`.
    Username(String),
    /// `AccessKeyId`.
    AccessKeyId(String),
    /// `ReadOnly`.
    ReadOnly(bool),
    /// `EventSource`.
    EventSource(String),
    /// `ResourceName`.
    ResourceName(String),
    /// `ResourceType`.
    ResourceType(String),
}

/// A lookup in one account's trail, newest first.
#[derive(Debug, Clone)]
pub struct Query {
    /// Whose trail.
    pub account_id: String,
    /// The one attribute, if any.
    pub attribute: Option<Attribute>,
    /// Events at or after (Unix seconds).
    pub start: Option<i64>,
    /// Events at or before (Unix seconds).
    pub end: Option<i64>,
    /// Page size.
    pub limit: usize,
    /// Continue below this sequence number (from a previous page).
    pub before_seq: Option<i64>,
}

/// A page of a lookup.
#[derive(Debug)]
pub struct Page {
    /// Sequence numbers and records, newest first.
    pub records: Vec<(i64, Record)>,
    /// Where the next page starts, when there is one.
    pub next: Option<i64>,
}

/// The storage interface every trail backend implements.
#[async_trait]
pub trait TrailStore: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `records` in one transaction, durably, before returning.
    async fn append(&self, records: &[Record]) -> Result<(), TrailError>;
    /// One page of a lookup.
    async fn lookup(&self, query: &Query) -> Result<Page, TrailError>;
    /// All accounts' records after `after_seq`, oldest first, for export.
    async fn scan(&self, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize) -> Result<Vec<(i64, Record)>, TrailError>;
    /// Deletes records older than `before` (Unix seconds); returns how many.
    async fn purge(&self, before: i64) -> Result<u64, TrailError>;
    /// Closes the backend.
    async fn close(&self);
}

/// A trail that keeps nothing. Only for measuring what durable audit costs
/// (`LATCHKEY_UNSAFE_AUDIT_DISCARD`); never for service.
#[derive(Debug, Default)]
pub struct DiscardTrail;

#[async_trait]
impl TrailStore for DiscardTrail {
    async fn append(&self, _records: &[Record]) -> Result<(), TrailError> {
        Ok(())
    }
    async fn lookup(&self, _query: &Query) -> Result<Page, TrailError> {
        Ok(Page { records: Vec::new(), next: None })
    }
    async fn scan(&self, _: Option<i64>, _: Option<i64>, _: i64, _: usize) -> Result<Vec<(i64, Record)>, TrailError> {
        Ok(Vec::new())
    }
    async fn purge(&self, _before: i64) -> Result<u64, TrailError> {
        Ok(0)
    }
    async fn close(&self) {}
}
