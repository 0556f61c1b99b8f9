//! The actions, by service. Each handler validates its parameters,
//! authorises, reads the snapshot or writes through the state, and returns
//! the inside of its XML Result element.

pub mod cloudtrail;
pub mod iam;
pub mod organizations;
pub mod sts;

use std::sync::Arc;

use crate::authn::Caller;
use crate::protocol::query::Params;
use crate::state::Snapshot;
use crate::{ApiError, App};

/// Everything a handler may use.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The application.
    pub app: &'a App,
    /// The snapshot read when the request arrived.
    pub snap: Arc<Snapshot>,
    /// The verified caller.
    pub caller: &'a Caller,
    /// Decoded parameters (awsQuery).
    pub params: &'a Params,
    /// The JSON body (awsJson services); `null` for awsQuery.
    pub json: &'a serde_json::Value,
    /// Request time, Unix seconds.
    pub now: i64,
    /// Source address, region, transport: the request's global condition keys.
    pub facts: crate::authz::RequestFacts,
    /// Set by every authorisation decision; the HTTP layer refuses to send a
    /// success for a call that was never authorised.
    pub authorized: std::sync::atomic::AtomicBool,
    /// What the handler adds to the call's audit record.
    pub notes: std::sync::Mutex<crate::audit::Notes>,
}

impl Ctx<'_> {
    /// Adds to the call's audit record.
    pub fn note(&self, f: impl FnOnce(&mut crate::audit::Notes)) {
        if let Ok(mut n) = self.notes.lock() {
            f(&mut n);
        }
    }
}

/// The inside of the Result element, or `None` for actions with no output.
pub type Output = Result<Option<String>, ApiError>;
