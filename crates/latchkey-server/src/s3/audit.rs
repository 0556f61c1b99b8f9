//! S3 calls in the trail, as CloudTrail data events: `eventCategory: Data`,
//! `managementEvent: false`, `requestParameters` with `bucketName`, `key`
//! and `Host`, `resources` naming the object and its bucket. A write's
//! record is durable before its response; a read's is queued.

use std::net::SocketAddr;

use axum::response::Response;
use latchkey_audit::Resource;
use latchkey_model::AccountId;
use serde_json::{Map, Value};

use super::Outcome;
use super::request::{Query, Target};
use crate::audit::{self, Call, Notes};
use crate::protocol::Service;
use crate::protocol::query::Params;
use crate::{ApiError, App};

/// `requestParameters`: the bucket, key, host and the query's parameters
/// (the presigned URL's signature left out).
pub fn parameters(out: &mut Map<String, Value>, host: Option<&str>, target: &Target, query: &Query<'_>) {
    if let Some(b) = &target.bucket {
        out.insert("bucketName".into(), b.clone().into());
    }
    if let Some(k) = &target.key {
        out.insert("key".into(), k.clone().into());
    }
    if let Some(h) = host {
        out.insert("Host".into(), h.into());
    }
    for (k, v) in query.pairs() {
        if k.starts_with("X-Amz-") {
            continue;
        }
        out.insert(k.to_owned(), v.into());
    }
}

/// `resources`: the object (if any) and the bucket, with the bucket
/// owner's account.
pub fn resources(notes: &mut Notes, target: &Target, owner: Option<AccountId>) {
    let account = owner.map(|a| a.to_string()).unwrap_or_default();
    if let Some(arn) = target.object_arn() {
        notes.resources.push(Resource { account_id: account.clone(), kind: "AWS::S3::Object", arn });
    }
    if let Some(arn) = target.bucket_arn() {
        notes.resources.push(Resource { account_id: account, kind: "AWS::S3::Bucket", arn });
    }
}

/// Records the call; a successful write waits until its record is durable
/// and fails with ServiceUnavailable when it cannot be made so (the
/// upstream has applied it, as an IAM write is applied in that case).
pub(super) async fn commit(
    app: &App,
    parts: &http::request::Parts,
    peer: SocketAddr,
    request_id: &str,
    outcome: &Outcome,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let Some(who) = &outcome.who else { return result };
    if outcome.operation.is_empty() {
        return result;
    }
    let error = result.as_ref().err();
    let json = Value::Object(outcome.params.clone());
    let params = Params::default();
    let call = Call {
        service: Service::S3,
        action: outcome.operation,
        who,
        time: app.clock.now(),
        region: &outcome.region,
        source_ip: peer.ip().to_string(),
        user_agent: parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
        request_id,
        params: &params,
        json: &json,
        notes: &outcome.notes,
    };
    let records = audit::records(&call, error);
    if error.is_none() && outcome.notes.failed.is_none() && audit::must_be_durable(Service::S3, outcome.operation, &outcome.notes) {
        if app.trail.record_durable(records).await.is_err() {
            tracing::error!(request_id = %request_id, action = %outcome.operation, "an S3 write was applied but its audit record could not be written");
            return Err(ApiError::service_unavailable("The change was applied, but the audit trail is unavailable to record it."));
        }
    } else if app.trail.record(records).await.is_err() {
        tracing::error!(request_id = %request_id, action = %outcome.operation, "the audit writer has stopped; a record was lost");
    }
    result
}
