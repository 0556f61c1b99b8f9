//! Sending a SigV4-signed request through the router, as a client would.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, reason = "test support: a failure should fail the test loudly")]

use std::sync::Arc;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use latchkey_server::App;
use latchkey_sigv4::{HttpRequest, SigningParams, sign_headers};
use tower::ServiceExt;

/// POSTs `body` with `headers` (host and content type included) to `app`,
/// signed with `params`; returns the status and the body.
pub async fn signed_post(app: &Arc<App>, params: &SigningParams<'_>, headers: &[(&str, &[u8])], body: String) -> (u16, String) {
    let unsigned = HttpRequest { method: "POST", path: "/", query: "", headers, body: body.as_bytes() };
    let sig = sign_headers(params, &unsigned).unwrap();
    let mut req = Request::builder().method("POST").uri("/");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in sig.headers() {
        req = req.header(k, v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
    let resp = latchkey_server::http::router(app.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, text)
}
