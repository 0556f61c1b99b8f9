//! The actions, by service. Each handler validates its parameters,
//! authorises, reads the snapshot or writes through the state, and returns
//! an [`Answer`]: the inside of its XML Result element, which can only be
//! sent with the [`Authorized`] proof that the call was allowed.

pub mod cloudtrail;
pub mod iam;
pub mod organizations;
pub mod sts;

use std::sync::Arc;

use crate::authn::Caller;
use crate::authz::Authorized;
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

/// A handler's success: the inside of the Result element (`None` for
/// actions with no output), with the proof of the decision that allowed
/// the call. Only [`Answer::new`] makes one, and it takes the proof.
#[derive(Debug)]
pub struct Answer {
    proof: Authorized,
    body: Option<String>,
}

impl Answer {
    /// The success `proof` allowed, with `body` (the Result element's inside).
    pub fn new(proof: Authorized, body: Option<String>) -> Self {
        Self { proof, body }
    }

    /// A success with no output.
    pub fn empty(proof: Authorized) -> Self {
        Self { proof, body: None }
    }

    /// The proof and the body, for the HTTP layer.
    pub fn into_parts(self) -> (Authorized, Option<String>) {
        (self.proof, self.body)
    }
}

/// What a handler returns.
pub type Output = Result<Answer, ApiError>;
