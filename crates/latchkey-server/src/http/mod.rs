//! HTTP: the listener, routes, limits, request ids, the per-request log line,
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode, header};
use latchkey_sigv4::HttpRequest;
use tokio::net::TcpListener;

use crate::api::{self, Ctx};
use crate::audit::{self, Who};
use crate::authn;
use crate::authz::{self, RequestFacts};
use crate::protocol::query::Params;
use crate::protocol::{Service, json, xml};
use crate::{ApiError, App, ErrorCode};

/// The router: `/healthz` and everything else as an AWS API call.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.body_limit;
    let timeout = app.config.request_timeout;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(handle)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        // Outermost: S3 requests leave before the body limit and the
        // timeout, which are made for IAM and STS calls, not for objects.
        .layer(axum::middleware::from_fn_with_state(app.clone(), divert_s3))
        .with_state(app)
}

/// Sends S3 requests to the S3 front end, everything else on.
async fn divert_s3(State(app): State<Arc<App>>, req: Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = req.into_parts();
    if crate::s3::is_s3(&parts, app.s3.domain()) {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        return crate::s3::handle(app, peer, Request::from_parts(parts, body)).await;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let router = router(app);
    // Responses go out as soon as they are written: with Nagle's algorithm a
    // response's last segment could wait for the client's delayed ACK
    // (40 ms on Linux), which dominated small S3 GETs.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// What the log line, the audit record and the response need to know about
/// a request.
struct Outcome {
    service: Service,
    action: String,
    caller: Option<String>,
    /// Who the trail shows: the verified caller, or the owner of the key a
    /// refused signature named. `None` for calls with no known key.
    who: Option<Who>,
    region: String,
    json: serde_json::Value,
    notes: audit::Notes,
    /// What allowed a successful call (the proof's basis), for the log line;
    /// formatted only when the line is written.
    allowed_by: Option<authz::Basis>,
}

impl Outcome {
    /// Nothing known yet.
    fn new() -> Self {
        Self {
            service: Service::Sts,
            action: String::new(),
            caller: None,
            who: None,
            region: String::new(),
            json: serde_json::Value::Null,
            notes: audit::Notes::default(),
            allowed_by: None,
        }
    }
}

/// Refusals that a node behind the store may give wrongly: the key, entity
/// or policy that would change the answer may have been written by another
/// node a moment ago. Worth one catch-up with the store and a second try.
fn may_be_stale(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::InvalidClientTokenId | ErrorCode::NoSuchEntity | ErrorCode::AccessDenied)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let snap = app.state.snapshot();
    let now = app.clock.now();
    let gauges = crate::metrics::Gauges {
        audit_queue_depth: app.trail.queue_depth(),
        audit_healthy: app.trail.is_healthy(),
        token_key_age: snap.token_ring.as_ref().and_then(|r| r.keys().map(|k| now - k.created_at()).min()),
    };
    let mut response = app.metrics.render(gauges).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

/// The routed action's name as a `'static` label, or `unknown`, so that
/// metrics labels come from a fixed set.
fn action_label(action: &str) -> &'static str {
    static ROUTED: std::sync::LazyLock<std::collections::HashSet<&'static str>> = std::sync::LazyLock::new(|| {
        api::sts::ACTIONS
            .iter()
            .chain(api::iam::ACTIONS)
            .chain(api::organizations::ACTIONS)
            .chain(api::cloudtrail::ACTIONS)
            .copied()
            .collect()
    });
    ROUTED.get(action).copied().unwrap_or("unknown")
}

async fn handle(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let mut outcome = Outcome::new();
    let mut params = Params::default();
    let mut result = match axum::body::to_bytes(body, app.config.body_limit).await {
        Ok(body) => {
            let judged_at = app.state.snapshot().version;
            let first = call(&app, peer, &parts, &body, &mut params, &mut outcome).await;
            // (A refresh by the follower may have run meanwhile, so the
            // test is whether the snapshot moved, not whether this refresh
            // moved it.)
            if first.as_ref().is_err_and(|e| may_be_stale(e.kind()))
                && app.may_catch_up()
                && app.state.refresh().await.is_ok()
                && app.state.snapshot().version > judged_at
            {
                // Refused for something this node has not heard of yet (a
                // key, role, user or policy another node wrote a moment
                // ago, before its notification arrived): the store was
                // ahead, so judge the call again, once, on the caught-up
                // snapshot. A refused call wrote nothing, so running it
                // again is safe; only this run is audited.
                outcome = Outcome::new();
                params = Params::default();
                call(&app, peer, &parts, &body, &mut params, &mut outcome).await
            } else {
                first
            }
        }
        Err(_) => Err(ApiError::of(ErrorCode::RequestEntityTooLarge, "Request body too large")),
    };
    if let Some(who) = &outcome.who {
        let call = audit::Call {
            service: outcome.service,
            action: &outcome.action,
            who,
            time: app.clock.now(),
            region: &outcome.region,
            source_ip: peer.ip().to_string(),
            user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            request_id: &request_id,
            params: &params,
            json: &outcome.json,
            notes: &outcome.notes,
        };
        audit::commit(&app.trail, &call, &mut result).await;
    }
    if result.is_ok()
        && let Some(kind) = outcome.notes.issued
    {
        app.metrics.issued(kind);
    }
    let code = result.as_ref().err().map(ApiError::kind);
    let response = render(&outcome, result, &request_id);
    let latency = started.elapsed();
    app.metrics.request(outcome.service.signing_name(), action_label(&outcome.action), code, latency);
    tracing::info!(
        target: "latchkey::request",
        request_id = %request_id,
        service = outcome.service.signing_name(),
        action = %outcome.action,
        caller = outcome.caller.as_deref().unwrap_or("-"),
        allowed_by = %AllowedBy(outcome.allowed_by.as_ref()),
        source_ip = %peer.ip(),
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
    );
    response
}

/// The log line's `allowed_by`: the basis, or `-` for a failed call.
struct AllowedBy<'a>(Option<&'a authz::Basis>);

impl std::fmt::Display for AllowedBy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(b) => b.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Routes, authenticates and runs one call.
async fn call(
    app: &App,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &Bytes,
    params: &mut Params,
    outcome: &mut Outcome,
) -> Result<Option<String>, ApiError> {
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let now = app.clock.now();
    let header_pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    let http_req = HttpRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &header_pairs,
        body,
    };
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());

    // Query parameters first, then the form body, so the body wins as AWS's does.
    if target.is_none() {
        params.extend_from_form(http_req.query.as_bytes());
        if *method == Method::POST {
            params.extend_from_form(body);
        }
        outcome.action = params.get("Action").unwrap_or_default().to_owned();
    } else if let Some((service, op)) = target.and_then(Service::from_json_target) {
        // Named before authentication, so that a refused call's error and
        // audit record name it too; a signed call's scope names the service.
        outcome.service = service;
        outcome.action = op.to_owned();
    }

    let signed = latchkey_sigv4::parse(&http_req)?;
    let snap = app.state.snapshot();
    let Some(signed) = signed else {
        // Unsigned: only the federation actions may be (they arrive later);
        // name the service from the action for the error's namespace.
        if target.is_none() && api::iam::ACTIONS.contains(&outcome.action.as_str()) {
            outcome.service = Service::Iam;
        }
        return Err(latchkey_sigv4::Error::MissingAuthenticationToken.into());
    };

    let scope_service = signed.scope().service();
    if let Some(service) = Service::from_signing_name(scope_service) {
        outcome.service = service;
    }
    signed.scope().region().clone_into(&mut outcome.region);
    let verdict = authn::authenticate(&snap, &app.signing_keys, &app.regions, &http_req, &signed, now);
    let authed = match verdict {
        Ok(authed) => authed,
        Err(e) => {
            // A refused signature that names a known key is recorded in
            // that key's account, as CloudTrail does.
            outcome.who = authn::claimed(&snap, &signed);
            return Err(e.into());
        }
    };
    outcome.caller = Some(authed.caller.arn());
    outcome.who = Some(Who::new(
        &authed.caller.account,
        &authed.caller.principal,
        authed.caller.session.as_deref(),
        &authed.caller.access_key_id,
    ));
    let service = Service::from_signing_name(&authed.service).ok_or_else(|| {
        ApiError::of(ErrorCode::UnknownService, format!("latchkey does not serve the service `{}`", authed.service))
    })?;

    let json_body;
    let action: &str = if service.is_json() {
        let op = target
            .and_then(|t| t.strip_prefix(service.json_target_prefix()))
            .ok_or_else(|| ApiError::of(ErrorCode::UnknownOperationException, "Missing or unknown X-Amz-Target"))?;
        json_body = if body.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| ApiError::of(ErrorCode::SerializationException, "Start of structure or map found where not expected."))?
        };
        op
    } else {
        json_body = serde_json::Value::Null;
        let action = params.get("Action").ok_or_else(|| ApiError::missing_parameter("Action"))?;
        if let Some(version) = params.get("Version")
            && version != service.query_version()
        {
            return Err(ApiError::invalid_action(action, version));
        }
        action
    };
    if authed.caller.session.is_none() {
        app.record_key_use(&authed.caller.access_key_id, now, service.signing_name(), &authed.region);
    }
    crate::authz::session_gate(service, action, &authed.caller)?;
    let facts = RequestFacts { source_ip: peer.ip().to_string(), region: authed.region.clone(), secure_transport: false };
    let ctx = Ctx {
        app,
        snap,
        caller: &authed.caller,
        params,
        json: &json_body,
        now,
        facts,
        notes: std::sync::Mutex::new(audit::Notes::default()),
    };
    // A success is an `Answer`, which holds the proof of the decision that
    // allowed it: a handler cannot answer without one.
    let result = dispatch(service, action, &ctx).await;
    outcome.notes = ctx.notes.into_inner().unwrap_or_default();
    outcome.json = json_body;
    let (proof, body) = result?.into_parts();
    outcome.allowed_by = Some(proof.into_basis());
    Ok(body)
}

async fn dispatch(service: Service, action: &str, ctx: &Ctx<'_>) -> api::Output {
    let routed = match service {
        Service::Sts => api::sts::dispatch(action, ctx).await,
        Service::Iam => api::iam::dispatch(action, ctx).await,
        Service::Organizations => api::organizations::dispatch(action, ctx).await,
        Service::CloudTrail => api::cloudtrail::dispatch(action, ctx).await,
        // S3 requests are diverted to `crate::s3` before they get here.
        Service::S3 => None,
    };
    routed.unwrap_or_else(|| {
        if service.is_json() {
            Err(ApiError::of(ErrorCode::UnknownOperationException, format!("Unknown operation {action}")))
        } else {
            Err(ApiError::invalid_action(action, service.query_version()))
        }
    })
}

fn render(outcome: &Outcome, result: Result<Option<String>, ApiError>, request_id: &str) -> Response {
    let (status, content_type, body) = match (&result, outcome.service.is_json()) {
        (Ok(inner), false) => (StatusCode::OK, "text/xml", xml::success(outcome.service, &outcome.action, inner.as_deref(), request_id)),
        (Ok(inner), true) => (StatusCode::OK, "application/x-amz-json-1.1", inner.clone().unwrap_or_else(|| "{}".to_owned())),
        (Err(e), false) => (e.status(), "text/xml", xml::error(outcome.service, e, request_id)),
        (Err(e), true) => {
            let (status, body) = json::error(e);
            (status, "application/x-amz-json-1.1", body)
        }
    };
    let mut response = (status, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}
