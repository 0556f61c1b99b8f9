//! May this caller do this S3 operation? The same engine as IAM and STS
//! ([`authz::decide`]), with S3's resources and condition keys, and the
//! bucket policy as the resource-based policy: within the bucket owner's
//! account either the bucket policy or the caller's identity policies may
//! allow; from another account both must (IAM User Guide, "Cross-account
//! policy evaluation logic"). A bucket with no policy is closed to other
//! accounts.
//!
//! S3 denials carry no encoded message (S3 has none); the decision's
//! explanation goes to the audit record instead.

use latchkey_model::AccountId;
use latchkey_policy::Context;

use crate::authn::Caller;
use crate::authz::{self, Authorized, RequestFacts};
use crate::state::Snapshot;
use crate::{ApiError, ErrorCode};

/// The account that owns `bucket`: the one latchkey recorded when the
/// bucket was created through it, else (a bucket that was in the upstream
/// store before latchkey fronted it) the organization's management account,
/// the account `latchkey init` made.
pub fn owner(snap: &Snapshot, bucket: &str) -> Option<AccountId> {
    snap.bucket(bucket).map(|b| b.bucket.account).or(snap.org.management)
}

/// One permission an operation needs.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    /// The IAM action.
    pub action: &'a str,
    /// Its resource ARN (`*` for ListAllMyBuckets).
    pub resource: &'a str,
    /// The bucket whose policy and owner apply, if any.
    pub bucket: Option<&'a str>,
}

/// A refusal, with what the audit record should say about it.
#[derive(Debug)]
pub struct Refused {
    /// S3's AccessDenied.
    pub error: ApiError,
    /// Why, for the audit record (the policy and statement that decided).
    pub explanation: serde_json::Value,
}

/// Decides `need` for `caller`, with `context` holding the global and S3
/// condition keys.
pub fn decide(snap: &Snapshot, caller: &Caller, need: Need<'_>, context: &Context) -> Result<Authorized, Refused> {
    let request = authz::Request { action: need.action, resource: need.resource };
    let owner = need.bucket.and_then(|b| owner(snap, b));
    let entry = need.bucket.and_then(|b| snap.bucket(b));
    let policy = entry.and_then(|e| e.policy.as_ref());
    let owner_text = owner.map(|a| a.to_string()).unwrap_or_default();
    let resource_id = need.bucket.map(|b| format!("arn:aws:s3:::{b}")).unwrap_or_default();
    let decided = match (policy, owner) {
        (Some(p), _) => authz::decide(snap, caller, request, Some((&resource_id, p, &owner_text)), context),
        (None, Some(o)) if o != caller.account => {
            return Err(refused(caller, need, serde_json::json!({
                "reason": "the bucket belongs to another account and has no bucket policy",
                "bucketOwner": o.to_string(),
            })));
        }
        (None, _) => authz::decide(snap, caller, request, None, context),
    };
    decided.map_err(|d| {
        let explanation = serde_json::json!({
            "reason": d.message,
            "explicitDeny": d.explicit,
            "decidedBy": d.explanation,
        });
        refused(caller, need, explanation)
    })
}

/// Decides `need` for an anonymous caller: only the bucket's policy can
/// allow it (naming `"*"`).
pub fn decide_anonymous(snap: &Snapshot, need: Need<'_>, context: &Context) -> Result<Authorized, Refused> {
    let request = authz::Request { action: need.action, resource: need.resource };
    let owner = need.bucket.and_then(|b| owner(snap, b)).map(|a| a.to_string()).unwrap_or_default();
    let entry = need.bucket.and_then(|b| snap.bucket(b));
    let resource_id = need.bucket.map(|b| format!("arn:aws:s3:::{b}")).unwrap_or_default();
    let policy = entry.and_then(|e| e.policy.as_ref()).map(|p| (resource_id.as_str(), p, owner.as_str()));
    authz::decide_anonymous(request, policy, context).map_err(|d| Refused {
        error: ApiError::of(ErrorCode::AccessDenied, "Access Denied"),
        explanation: serde_json::json!({
            "reason": d.message,
            "explicitDeny": d.explicit,
            "action": need.action,
            "resource": need.resource,
            "principal": "anonymous",
        }),
    })
}

fn refused(caller: &Caller, need: Need<'_>, mut explanation: serde_json::Value) -> Refused {
    if let Some(m) = explanation.as_object_mut() {
        m.insert("action".into(), need.action.into());
        m.insert("resource".into(), need.resource.into());
        m.insert("principal".into(), caller.arn().into());
    }
    Refused { error: ApiError::of(ErrorCode::AccessDenied, "Access Denied"), explanation }
}

/// The condition keys of an S3 request: the global ones, then S3's
/// (Amazon S3 User Guide, "Condition keys for Amazon S3").
#[derive(Debug, Default)]
pub struct S3Keys<'a> {
    /// `s3:prefix`, `s3:delimiter`, `s3:max-keys` (list operations).
    pub list: Option<(Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
    /// `s3:authType`: `REST-HEADER` or `REST-QUERY-STRING`.
    pub auth_type: &'a str,
    /// `s3:signatureAge`, milliseconds since the request was signed.
    pub signature_age_ms: i64,
    /// `s3:x-amz-content-sha256`.
    pub content_sha256: Option<&'a str>,
    /// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys`, from
    /// `x-amz-tagging`.
    pub request_tags: Vec<(String, String)>,
    /// `s3:x-amz-acl`, `s3:x-amz-server-side-encryption`,
    /// `s3:x-amz-copy-source`, `s3:x-amz-metadata-directive`,
    /// `s3:x-amz-storage-class`, as sent.
    pub headers: Vec<(&'static str, &'a str)>,
    /// `s3:versionid`.
    pub version_id: Option<&'a str>,
}

/// Builds the context for `caller`'s request.
pub fn context(snap: &Snapshot, caller: &Caller, facts: &RequestFacts, now: i64, keys: &S3Keys<'_>, owner: Option<AccountId>) -> Context {
    let mut c = authz::base_context(snap, caller, facts, now);
    add_s3_keys(&mut c, keys, owner);
    c
}

/// The context of an anonymous request: the global keys that do not
/// describe a principal, and S3's.
pub fn anonymous_context(facts: &RequestFacts, now: i64, keys: &S3Keys<'_>, owner: Option<AccountId>) -> Context {
    let mut c = Context::new();
    c.insert("aws:SourceIp", facts.source_ip.clone());
    c.insert("aws:SecureTransport", if facts.secure_transport { "true" } else { "false" });
    c.insert("aws:CurrentTime", latchkey_model::format_iso8601(now));
    c.insert("aws:EpochTime", now.to_string());
    add_s3_keys(&mut c, keys, owner);
    c
}

fn add_s3_keys(c: &mut Context, keys: &S3Keys<'_>, owner: Option<AccountId>) {
    if let Some((prefix, delimiter, max_keys)) = keys.list {
        // AWS sets s3:prefix to "" when the request has none, so that a
        // condition on it can be met by a listing of the whole bucket.
        c.insert("s3:prefix", prefix.unwrap_or(""));
        if let Some(d) = delimiter {
            c.insert("s3:delimiter", d);
        }
        if let Some(m) = max_keys {
            c.insert("s3:max-keys", m);
        }
    }
    if !keys.auth_type.is_empty() {
        c.insert("s3:authType", keys.auth_type);
        c.insert("s3:signatureversion", "AWS4-HMAC-SHA256");
        c.insert("s3:signatureAge", keys.signature_age_ms.max(0).to_string());
    }
    if let Some(h) = keys.content_sha256 {
        c.insert("s3:x-amz-content-sha256", h);
    }
    if !keys.request_tags.is_empty() {
        for (k, v) in &keys.request_tags {
            c.insert(&format!("s3:RequestObjectTag/{k}"), v.clone());
        }
        c.insert_multi("s3:RequestObjectTagKeys", keys.request_tags.iter().map(|(k, _)| k.clone()));
    }
    for (name, value) in &keys.headers {
        c.insert(name, *value);
    }
    if let Some(v) = keys.version_id {
        c.insert("s3:versionid", v);
    }
    if let Some(o) = owner {
        c.insert("s3:ResourceAccount", o.to_string());
        c.insert("aws:ResourceAccount", o.to_string());
    }
}

/// The tags of `x-amz-tagging` (URL-encoded `k1=v1&k2=v2`).
pub fn request_tags(header: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(header.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
