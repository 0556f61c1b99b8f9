//! The S3 front end: S3 requests on the service's own listener, judged by
//! latchkey and forwarded to an S3-compatible store (MinIO, Ceph RGW,
//! SeaweedFS, Garage, s3s) that knows nothing of latchkey's identities.
//!
//! A request travels down the modules in order: [`request`] (bucket, key
//! and operation, and the IAM actions and resources it needs) →
//! [`authenticate`](authenticate()) (the same SigV4 verification and key
//! and token lookup as IAM and STS, with S3's canonical path and a body
//! checked later) → [`authorize`] (the same engine, with the bucket policy
//! as the resource policy) → [`buckets`] (what latchkey answers itself:
//! bucket policies, bucket ownership) or [`forward`] (re-signed with the
//! upstream's key, the body streamed through [`body`]'s checks) →
//! [`audit`] (a CloudTrail data event) → response.
//!
//! Requests are S3's when their credential scope names `s3`, when they are
//! SigV2 (only S3 ever took it), when they are addressed to a bucket under
//! `--s3-domain`, or when they are unsigned and their path names a bucket
//! (IAM and STS calls go to `/`): those are anonymous, and only a bucket
//! policy naming `"*"` can allow them.

pub mod audit;
pub mod authorize;
pub mod body;
pub mod buckets;
pub mod forward;
pub mod request;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method, header};
use latchkey_sigv4::{ChecksumCheck, ChunkedDecoder, ChunkedOptions, HttpRequest, PayloadCheck, Placement, Sha256Check};

use crate::authn::{self, Authenticated};
use crate::authz::{Authorized, RequestFacts};
use crate::protocol::s3 as wire;
use crate::{ApiError, App, ErrorCode};
use request::{Handling, On, Operation, Target};

pub use forward::{Upstream, UpstreamSettings};

/// How S3 is served.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// The store requests are forwarded to; without one, S3 calls are
    /// answered `NotImplemented`.
    pub upstream: Option<UpstreamSettings>,
    /// Buckets are also addressed as `BUCKET.DOMAIN` (virtual-hosted style).
    pub domain: Option<String>,
}

/// The S3 front end's running parts.
#[derive(Debug, Default)]
pub struct Front {
    upstream: Option<Upstream>,
    domain: Option<String>,
}

impl Front {
    /// The front end for `settings`.
    pub fn new(settings: &S3Settings) -> Result<Self, String> {
        let upstream = settings.upstream.clone().map(Upstream::new).transpose()?;
        Ok(Self { upstream, domain: settings.domain.clone() })
    }

    /// The upstream, if S3 is enabled.
    pub fn upstream(&self) -> Option<&Upstream> {
        self.upstream.as_ref()
    }

    /// The domain of virtual-hosted-style addresses, if set.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }
}

/// Whether `parts` is an S3 request (see the module's documentation).
pub fn is_s3(parts: &http::request::Parts, domain: Option<&str>) -> bool {
    let headers = &parts.headers;
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if auth.starts_with("AWS ") {
            return true;
        }
        return auth.split(['=', ',', ' ']).any(|part| part.split('/').nth(3) == Some("s3") && part.ends_with("/aws4_request"));
    }
    let query = parts.uri.query().unwrap_or("");
    if query.contains("AWSAccessKeyId=") && query.contains("Signature=") {
        return true;
    }
    if let Some(cred) = query.split('&').find_map(|p| p.strip_prefix("X-Amz-Credential=")) {
        let cred = percent_encoding::percent_decode_str(cred).decode_utf8_lossy();
        return cred.split('/').nth(3) == Some("s3");
    }
    let hosted = match (domain, parts.headers.get(header::HOST).and_then(|h| h.to_str().ok())) {
        (Some(d), Some(host)) => {
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            host.len() > d.len() && host.ends_with(d) && host.as_bytes().get(host.len() - d.len() - 1) == Some(&b'.')
        }
        _ => false,
    };
    // An unsigned request addressed to a bucket path is an anonymous S3
    // request: IAM and STS calls go to `/`, and `/healthz` and `/metrics`
    // are latchkey's own.
    let first = parts.uri.path().trim_start_matches('/').split('/').next().unwrap_or("");
    hosted || (!first.is_empty() && !matches!(first, "healthz" | "metrics") && !headers.contains_key("x-amz-target"))
}

/// One request, as the steps after the decision need it.
#[derive(Debug, Clone, Copy)]
struct Call<'a> {
    app: &'a App,
    upstream: &'a Upstream,
    parts: &'a http::request::Parts,
    target: &'a Target,
    request_id: &'a str,
    now: i64,
}

/// What the log line and the audit record need.
#[derive(Debug, Default)]
struct Outcome {
    operation: &'static str,
    caller: Option<String>,
    who: Option<crate::audit::Who>,
    region: String,
    params: serde_json::Map<String, serde_json::Value>,
    notes: crate::audit::Notes,
    allowed_by: Option<crate::authz::Basis>,
}

/// Serves one S3 request, start to end.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let mut outcome = Outcome::default();
    let result = serve(&app, peer, &parts, body, &request_id, &mut outcome).await;
    let result = audit::commit(&app, &parts, peer, &request_id, &outcome, result).await;
    let code = result.as_ref().err().map(ApiError::kind);
    let response = match result {
        Ok(r) => r,
        Err(e) => wire::error_response(&e, parts.uri.path(), &request_id, head),
    };
    let latency = started.elapsed();
    app.metrics.request("s3", if outcome.operation.is_empty() { "unknown" } else { outcome.operation }, code, latency);
    tracing::info!(
        target: "latchkey::request",
        request_id = %request_id,
        service = "s3",
        action = outcome.operation,
        caller = outcome.caller.as_deref().unwrap_or("-"),
        allowed_by = %outcome.allowed_by.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
        source_ip = %peer.ip(),
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
    );
    response
}

/// S3's request ids are 16 upper-case hex digits.
fn request_id() -> String {
    let id = uuid::Uuid::new_v4();
    let bytes = id.as_bytes();
    bytes.iter().take(8).map(|b| format!("{b:02X}")).collect()
}

async fn serve(
    app: &App,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Body,
    request_id: &str,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let front = &app.s3;
    let upstream = front.upstream().ok_or_else(|| {
        ApiError::of(
            ErrorCode::NotImplemented,
            "S3 is not enabled on this latchkey. Start `latchkey serve` with --s3-upstream URL (or LATCHKEY_S3_UPSTREAM) and the upstream's key in LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID and LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY.",
        )
    })?;
    let headers = &parts.headers;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let target = request::target(host, parts.uri.path(), front.domain.as_deref())?;
    let raw_query = parts.uri.query().unwrap_or("");
    let query = request::Query::parse(raw_query);
    let copy_source = headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok());
    let op = request::operation(&parts.method, &target, &query, copy_source.is_some())?;
    outcome.operation = op.name;
    audit::parameters(&mut outcome.params, host, &target, &query);

    let now = app.clock.now();
    let Some((authed, payload, verifier, signed_at)) = authenticate(app, parts, &target, &query, now, outcome)? else {
        return anonymous(app, upstream, peer, parts, body, &target, &query, op, request_id, now, outcome).await;
    };
    let facts = RequestFacts { source_ip: peer.ip().to_string(), region: authed.region.clone(), secure_transport: false };
    let snap = app.state.snapshot();
    let caller = &authed.caller;

    // The body's check, settled before anything is decided, so a request
    // whose framing is wrong is refused before it costs a decision.
    let check = body_check(headers, payload, verifier)?;

    let owner = target.bucket.as_deref().filter(|_| op.name != "CreateBucket").and_then(|b| authorize::owner(&snap, b));
    let keys = condition_keys(headers, &query, &op, parts, now - signed_at);
    let context = authorize::context(&snap, caller, &facts, now, &keys, owner);
    let bucket_arn = target.bucket_arn();
    let object_arn = target.object_arn();
    let resource = match op.on {
        On::Any => "*",
        On::Bucket => bucket_arn.as_deref().unwrap_or("*"),
        On::Object => object_arn.as_deref().or(bucket_arn.as_deref()).unwrap_or("*"),
    };
    audit::resources(&mut outcome.notes, &target, owner);
    // A bucket being created has no owner and no policy yet.
    let policy_bucket = target.bucket.as_deref().filter(|_| op.name != "CreateBucket");
    let need = authorize::Need { action: op.action, resource, bucket: policy_bucket };
    let proof = if op.name == "DeleteObjects" {
        // Each key is decided on its own ARN, once the list is read.
        None
    } else {
        Some(decide(&snap, &authed, need, &context, outcome)?)
    };

    // Further permissions some operations need.
    if let Some(source) = copy_source.filter(|_| matches!(op.name, "CopyObject" | "UploadPartCopy")) {
        let (src, version) = request::copy_source(source)?;
        let src_arn = src.object_arn().unwrap_or_default();
        let action = if version.is_some() { "s3:GetObjectVersion" } else { "s3:GetObject" };
        let src_owner = src.bucket.as_deref().and_then(|b| authorize::owner(&snap, b));
        let src_context = authorize::context(&snap, caller, &facts, now, &keys, src_owner);
        // Reading the source is a decision of its own; its proof is not
        // needed further, as the copy is sent under the destination's.
        let _source_read = decide(&snap, &authed, authorize::Need { action, resource: &src_arn, bucket: src.bucket.as_deref() }, &src_context, outcome)?;
    }
    if op.name == "PutObject" && headers.contains_key("x-amz-tagging") {
        let _tagging = decide(&snap, &authed, authorize::Need { action: "s3:PutObjectTagging", ..need }, &context, outcome)?;
    }

    let call = Call { app, upstream, parts, target: &target, request_id, now };
    match (op.handling, proof) {
        (Handling::Local, Some(proof)) => {
            let bucket = target.bucket.as_deref().unwrap_or_default();
            let response = buckets::local(call, &proof, op, bucket, caller, body, check).await?;
            outcome.allowed_by = Some(proof.into_basis());
            Ok(response)
        }
        (_, None) => {
            let (proof, body) = buckets::delete_objects(&snap, &authed, &target, &context, body, check, outcome).await?;
            let length = body.len() as u64;
            let response = send(call, &mut outcome.notes, &proof, Body::from(body), Some(length), None).await?;
            outcome.allowed_by = Some(proof.into_basis());
            Ok(response)
        }
        (Handling::Forward, Some(proof)) => {
            let response = match op.name {
                "CreateBucket" => buckets::create(call, &mut outcome.notes, &proof, caller, body, check).await?,
                "DeleteBucket" => {
                    let response = send(call, &mut outcome.notes, &proof, Body::empty(), None, None).await?;
                    buckets::forget_if_deleted(app, &proof, &target, response.status()).await?;
                    response
                }
                "ListBuckets" => buckets::list(call, &snap, &mut outcome.notes, &proof, caller).await?,
                _ => forward_with_body(call, &mut outcome.notes, &proof, body, check).await?,
            };
            outcome.allowed_by = Some(proof.into_basis());
            Ok(response)
        }
    }
}

/// An unsigned request: only a bucket policy naming `"*"` can allow it, and
/// only for operations on an existing bucket that latchkey forwards (never
/// CreateBucket, ListBuckets, DeleteObjects or the bucket policy calls).
/// The record goes to the bucket owner's trail, the caller shown as
/// CloudTrail shows anonymous S3 callers.
#[expect(clippy::too_many_arguments, reason = "one request's parts, passed down once")]
async fn anonymous(
    app: &App,
    upstream: &Upstream,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Body,
    target: &Target,
    query: &request::Query<'_>,
    op: Operation,
    request_id: &str,
    now: i64,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let snap = app.state.snapshot();
    let owner = target.bucket.as_deref().and_then(|b| authorize::owner(&snap, b));
    if let Some(account) = owner {
        outcome.who = Some(crate::audit::Who {
            account,
            identity: latchkey_audit::UserIdentity {
                kind: "AWSAccount",
                principal_id: Some(String::new()),
                account_id: Some("anonymous".to_owned()),
                ..latchkey_audit::UserIdentity::default()
            },
            username: "anonymous".to_owned(),
            source_identity: None,
        });
    }
    let forwardable = op.handling == Handling::Forward && !matches!(op.name, "CreateBucket" | "ListBuckets" | "DeleteObjects");
    if !forwardable || target.bucket.is_none() {
        return Err(ApiError::access_denied("Access Denied"));
    }
    let facts = RequestFacts { source_ip: peer.ip().to_string(), region: "us-east-1".to_owned(), secure_transport: false };
    let mut keys = condition_keys(&parts.headers, query, &op, parts, 0);
    keys.auth_type = "";
    let context = authorize::anonymous_context(&facts, now, &keys, owner);
    let bucket_arn = target.bucket_arn();
    let object_arn = target.object_arn();
    let resource = match op.on {
        On::Object => object_arn.as_deref().or(bucket_arn.as_deref()).unwrap_or("*"),
        On::Bucket | On::Any => bucket_arn.as_deref().unwrap_or("*"),
    };
    audit::resources(&mut outcome.notes, target, owner);
    let need = authorize::Need { action: op.action, resource, bucket: target.bucket.as_deref() };
    let proof = authorize::decide_anonymous(&snap, need, &context).map_err(|refused| {
        outcome.notes.additional("latchkeyDenial", refused.explanation);
        refused.error
    })?;
    if parts.headers.contains_key("x-amz-copy-source") {
        // Reading another object needs a decision of its own.
        let (src, _) = request::copy_source(parts.headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok()).unwrap_or_default())?;
        let src_arn = src.object_arn().unwrap_or_default();
        let _source_read = authorize::decide_anonymous(&snap, authorize::Need { action: "s3:GetObject", resource: &src_arn, bucket: src.bucket.as_deref() }, &context)
            .map_err(|refused| refused.error)?;
    }
    let pairs: Vec<(&str, &[u8])> = parts.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let check = body::Check::Unsigned(ChecksumCheck::from_headers(&pairs).map_err(|e| body::body_error(&e))?);
    let call = Call { app, upstream, parts, target, request_id, now };
    let response = match op.name {
        "DeleteBucket" => {
            let response = send(call, &mut outcome.notes, &proof, Body::empty(), None, None).await?;
            buckets::forget_if_deleted(app, &proof, target, response.status()).await?;
            response
        }
        _ => forward_with_body(call, &mut outcome.notes, &proof, body, check).await?,
    };
    outcome.allowed_by = Some(proof.into_basis());
    Ok(response)
}

/// One decision; a refusal is explained in the audit record.
fn decide(
    snap: &crate::state::Snapshot,
    authed: &Authenticated,
    need: authorize::Need<'_>,
    context: &latchkey_policy::Context,
    outcome: &mut Outcome,
) -> Result<Authorized, ApiError> {
    authorize::decide(snap, &authed.caller, need, context).map_err(|refused| {
        outcome.notes.additional("latchkeyDenial", refused.explanation);
        refused.error
    })
}

/// The verified caller, what its body must still pass, the chunk verifier
/// of a signed aws-chunked body, and when the request was signed.
type Verified = (Authenticated, PayloadCheck, Option<latchkey_sigv4::ChunkVerifier>, i64);

/// Authenticates the request as S3 does: SigV4 (header or presigned), or
/// SigV2 (still what the aws CLI v1 and boto3 presign with by default);
/// `None` for an anonymous request.
fn authenticate(
    app: &App,
    parts: &http::request::Parts,
    target: &Target,
    query: &request::Query<'_>,
    now: i64,
    outcome: &mut Outcome,
) -> Result<Option<Verified>, ApiError> {
    let header_pairs: Vec<(&str, &[u8])> = parts.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let http_req = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &header_pairs,
        body: &[],
    };
    if let Some(v2) = latchkey_sigv4::parse_v2(&http_req).map_err(|e| ApiError::s3_authn(e.into()))? {
        return authenticate_v2(app, &http_req, &v2, target, query, now, outcome).map(Some);
    }
    let signed = latchkey_sigv4::parse(&http_req).map_err(|e| ApiError::s3_authn(e.into()))?;
    let Some(signed) = signed else {
        return Ok(None);
    };
    signed.scope().region().clone_into(&mut outcome.region);
    let snap = app.state.snapshot();
    let opts = latchkey_sigv4::VerifyOptions::s3();
    let mut deferred = None;
    let verdict = authn::authenticate_by(&snap, &app.signing_keys, &app.regions, &signed, now, |key| {
        let (valid, check) = signed.verify_deferred(&http_req, key, now, &opts)?;
        let verifier = match check {
            PayloadCheck::Chunked(mode) if mode.is_signed() => Some(signed.chunk_verifier(key, &valid)?),
            _ => None,
        };
        deferred = Some((check, verifier));
        Ok(valid)
    });
    let authed = match verdict {
        Ok(a) => a,
        Err(e) => {
            outcome.who = authn::claimed(&snap, &signed);
            return Err(ApiError::s3_authn(e));
        }
    };
    if authed.service != "s3" {
        return Err(ApiError::s3_authn(authn::AuthnError::Signature(latchkey_sigv4::Error::SignatureDoesNotMatch)));
    }
    identified(app, &authed, "SigV4", signed.placement(), now, outcome);
    let (check, verifier) = deferred.ok_or_else(|| ApiError::internal("verification left no payload check"))?;
    Ok(Some((authed, check, verifier, signed.timestamp())))
}

/// SigV2: the same key and token lookup, the signature over S3's SigV2
/// string to sign. SigV2 signs neither the body nor most query parameters;
/// a subresource it does not sign is refused, and the body is taken as
/// unsigned (an `x-amz-checksum-*` header is still checked).
fn authenticate_v2(
    app: &App,
    http_req: &HttpRequest<'_>,
    v2: &latchkey_sigv4::SignedV2,
    target: &Target,
    query: &request::Query<'_>,
    now: i64,
    outcome: &mut Outcome,
) -> Result<Verified, ApiError> {
    if let Some(k) = request::unsigned_in_v2(query) {
        return Err(ApiError::access_denied(format!("Signature Version 2 does not sign the parameter `{k}`; sign this request with AWS4-HMAC-SHA256.")));
    }
    "us-east-1".clone_into(&mut outcome.region);
    let snap = app.state.snapshot();
    let claim = authn::Claim { access_key_id: v2.access_key_id(), session_token: v2.session_token() };
    let bucket = target.bucket.as_deref().filter(|_| target.hosted);
    let caller = authn::identify(&snap, claim, now, |secret| v2.verify(http_req, bucket, secret, now)).map_err(ApiError::s3_authn)?;
    let authed = Authenticated { caller, service: "s3".to_owned(), region: "us-east-1".to_owned() };
    identified(app, &authed, "SigV2", v2.placement(), now, outcome);
    Ok((authed, PayloadCheck::Unsigned, None, v2.date().unwrap_or(now)))
}

/// Notes who called, for the log line and the audit record.
fn identified(app: &App, authed: &Authenticated, version: &str, placement: Placement, now: i64, outcome: &mut Outcome) {
    outcome.caller = Some(authed.caller.arn());
    outcome.who = Some(crate::audit::Who::new(
        &authed.caller.account,
        &authed.caller.principal,
        authed.caller.session.as_deref(),
        &authed.caller.access_key_id,
    ));
    outcome.notes.additional("SignatureVersion", version.into());
    outcome.notes.additional(
        "AuthenticationMethod",
        if placement == Placement::Query { "QueryString" } else { "AuthHeader" }.into(),
    );
    if authed.caller.session.is_none() {
        app.record_key_use(&authed.caller.access_key_id, now, "s3", &authed.region);
    }
}

/// What the body must pass, from the payload check and the headers.
fn body_check(headers: &HeaderMap, payload: PayloadCheck, verifier: Option<latchkey_sigv4::ChunkVerifier>) -> Result<body::Check, ApiError> {
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    Ok(match payload {
        PayloadCheck::Chunked(mode) => {
            let options = ChunkedOptions::from_headers(&pairs).map_err(|e| body::body_error(&e))?;
            body::Check::Chunked(Box::new(ChunkedDecoder::new(mode, verifier, options)))
        }
        PayloadCheck::Sha256(hash) => {
            body::Check::Sha256(Sha256Check::new(hash), ChecksumCheck::from_headers(&pairs).map_err(|e| body::body_error(&e))?)
        }
        PayloadCheck::Unsigned => body::Check::Unsigned(ChecksumCheck::from_headers(&pairs).map_err(|e| body::body_error(&e))?),
    })
}

fn condition_keys<'a>(
    headers: &'a HeaderMap,
    query: &'a request::Query<'a>,
    op: &Operation,
    parts: &http::request::Parts,
    signature_age: i64,
) -> authorize::S3Keys<'a> {
    let list = matches!(op.name, "ListObjects" | "ListObjectsV2" | "ListObjectVersions")
        .then(|| (query.get("prefix"), query.get("delimiter"), query.get("max-keys")));
    let presigned = parts.uri.query().is_some_and(|q| q.contains("X-Amz-Signature="));
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let mut named = Vec::new();
    for (key, name) in [
        ("s3:x-amz-acl", "x-amz-acl"),
        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
        ("s3:x-amz-copy-source", "x-amz-copy-source"),
        ("s3:x-amz-metadata-directive", "x-amz-metadata-directive"),
        ("s3:x-amz-storage-class", "x-amz-storage-class"),
    ] {
        if let Some(v) = header(name) {
            named.push((key, v));
        }
    }
    authorize::S3Keys {
        list,
        auth_type: if presigned { "REST-QUERY-STRING" } else { "REST-HEADER" },
        signature_age_ms: signature_age.saturating_mul(1000),
        content_sha256: header("x-amz-content-sha256"),
        request_tags: header("x-amz-tagging").map(authorize::request_tags).unwrap_or_default(),
        headers: named,
        version_id: query.get("versionId"),
    }
}

/// The length the upstream will receive, and the `Content-Encoding` left
/// once `aws-chunked` is undone.
fn upstream_framing(headers: &HeaderMap, check: &body::Check) -> Result<(Option<u64>, Option<String>), ApiError> {
    let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(|v| {
        v.split(',').map(str::trim).filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty()).collect::<Vec<_>>().join(",")
    });
    match check {
        body::Check::Chunked(_) => {
            let length = number("x-amz-decoded-content-length").ok_or_else(|| {
                ApiError::of(ErrorCode::MissingContentLength, "You must provide the Content-Length HTTP header.")
            })?;
            Ok((Some(length), encoding))
        }
        _ => Ok((number(header::CONTENT_LENGTH.as_str()), encoding)),
    }
}

/// Forwards a request with its body streamed through `check`.
async fn forward_with_body(
    call: Call<'_>,
    notes: &mut crate::audit::Notes,
    proof: &Authorized,
    body: Body,
    check: body::Check,
) -> Result<Response, ApiError> {
    let (length, encoding) = upstream_framing(&call.parts.headers, &check)?;
    if length.is_none() && call.parts.headers.contains_key(header::TRANSFER_ENCODING) {
        // S3 needs the length up front (aws-chunked carries it separately).
        return Err(ApiError::of(ErrorCode::MissingContentLength, "You must provide the Content-Length HTTP header."));
    }
    let failure = body::Failure::default();
    let has_body = length.is_some_and(|n| n > 0) || matches!(check, body::Check::Chunked(_));
    let outgoing = if has_body {
        body::checked(body, check, failure.clone())
    } else {
        // No body: whatever was declared must be the empty body's.
        body::collect(body, check, 0).await?;
        Body::empty()
    };
    let result = send(call, notes, proof, outgoing, length.filter(|_| has_body), encoding).await;
    if let Some(e) = failure.take() {
        return Err(e);
    }
    result
}

/// Sends to the upstream and turns its response into ours; an error the
/// upstream answered goes to the audit record's notes.
async fn send(
    call: Call<'_>,
    notes: &mut crate::audit::Notes,
    proof: &Authorized,
    body: Body,
    length: Option<u64>,
    encoding: Option<String>,
) -> Result<Response, ApiError> {
    let parts = call.parts;
    let out = forward::Outgoing {
        method: &parts.method,
        bucket: call.target.bucket.as_deref(),
        key: call.target.key.as_deref(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        content_length: length,
        content_encoding: encoding,
    };
    let response = call.upstream.send(proof, &out, body, call.now).await?;
    let (response, failed) = forward::relay(response, call.request_id).await?;
    if let Some(f) = failed {
        notes.failed = Some(f);
    }
    Ok(response)
}
