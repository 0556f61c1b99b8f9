//! The upstream S3-compatible store: each allowed request is re-signed with
//! latchkey's own upstream key and sent on, bodies streamed both ways.
//!
//! Sending needs the [`Authorized`] proof of the decision that allowed the
//! request, so nothing reaches the store undecided. The caller's
//! credentials never leave latchkey; the upstream key never reaches a
//! client, a log line or the audit trail.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use latchkey_sigv4::{HttpRequest, PayloadSigning, SigningParams, sign_headers};
use zeroize::Zeroizing;

use crate::authz::Authorized;
use crate::{ApiError, ErrorCode};

/// Where the upstream store is and how latchkey signs for it.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// `http://host:port` or `https://host:port`, optionally with a path
    /// prefix.
    pub url: Uri,
    /// latchkey's access key id at the upstream.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: Zeroizing<String>,
    /// The region latchkey signs for (`us-east-1` unless set).
    pub region: String,
}

impl fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("url", &self.url)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The upstream and a pooled client for it.
pub struct Upstream {
    settings: UpstreamSettings,
    client: Client<Connector, Body>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Headers that describe one hop, or latchkey's own authentication, or the
/// framing latchkey undoes: never sent upstream as the client sent them.
fn is_hop_or_auth(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization"
            | "host"
            | "connection"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
            | "content-length"
            | "x-amz-date"
            | "x-amz-security-token"
            | "x-amz-content-sha256"
            | "x-amz-decoded-content-length"
            | "x-amz-trailer"
            | "x-amz-user-agent"
            | "user-agent"
            | "amz-sdk-invocation-id"
            | "amz-sdk-request"
            | "x-amzn-trace-id"
    )
}

/// The query parameters of a presigned URL's signature (SigV4's and SigV2's).
fn is_presign_parameter(k: &str) -> bool {
    matches!(
        k,
        "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Date" | "X-Amz-Expires" | "X-Amz-SignedHeaders" | "X-Amz-Signature"
            | "X-Amz-Security-Token" | "x-amz-security-token" | "AWSAccessKeyId" | "Signature" | "Expires"
    )
}

/// What to send upstream.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The method.
    pub method: &'a Method,
    /// The bucket (none for ListBuckets).
    pub bucket: Option<&'a str>,
    /// The decoded key.
    pub key: Option<&'a str>,
    /// The client's raw query string.
    pub query: &'a str,
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// The body's length as the upstream will receive it.
    pub content_length: Option<u64>,
    /// The client's `Content-Encoding` without `aws-chunked`.
    pub content_encoding: Option<String>,
}

/// The upstream failed, or could not be reached.
fn unreachable_upstream(e: impl fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "the upstream S3 store failed");
    ApiError::of(ErrorCode::InternalError, "We encountered an internal error. Please try again.")
}

impl Upstream {
    /// A client for `settings`; HTTPS upstreams are checked against the
    /// system's roots.
    pub fn new(settings: UpstreamSettings) -> Result<Self, String> {
        // Requests and small bodies go out at once (no Nagle delay).
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
            Err(e) => {
                if settings.url.scheme_str() == Some("https") {
                    return Err(format!("no system root certificates for the https upstream: {e}"));
                }
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(
                        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                            .with_safe_default_protocol_versions()
                            .map_err(|e| e.to_string())?
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http)
            }
        };
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self { settings, client })
    }

    /// The upstream's URL, for the start-up log line.
    pub fn url(&self) -> &Uri {
        &self.settings.url
    }

    /// Sends `out` with `body`, signed for the upstream, once `proof` shows
    /// the request was allowed; answers the upstream's response as it comes
    /// (status, headers, streamed body).
    pub async fn send(&self, proof: &Authorized, out: &Outgoing<'_>, body: Body, now: i64) -> Result<Response<hyper::body::Incoming>, ApiError> {
        tracing::debug!(action = proof.action(), resource = proof.resource(), allowed_by = %proof.basis(), "forwarding to the upstream");
        // S3 signs the path as sent, so the signer gets the wire path.
        let mut encoded = String::from(self.settings.url.path().trim_end_matches('/'));
        encoded.push('/');
        if let Some(b) = out.bucket {
            encoded.push_str(&encode(b));
            if let Some(k) = out.key {
                encoded.push('/');
                encoded.push_str(&encode(k));
            }
        }
        let query: String = out
            .query
            .split('&')
            .filter(|p| !p.is_empty() && !is_presign_parameter(p.split('=').next().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("&");
        let authority = self.settings.url.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        // An aws-chunked body's trailing checksum is checked by latchkey; the
        // upstream gets the decoded payload without it, so not the header
        // announcing it either.
        let chunked = out.headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
        let mut headers: Vec<(HeaderName, HeaderValue)> = out
            .headers
            .iter()
            .filter(|(n, _)| !is_hop_or_auth(n) && *n != header::CONTENT_ENCODING)
            .filter(|(n, _)| !(chunked && n.as_str() == "x-amz-sdk-checksum-algorithm"))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        if let Some(ce) = out.content_encoding.as_deref().filter(|c| !c.is_empty())
            && let Ok(v) = HeaderValue::from_str(ce)
        {
            headers.push((header::CONTENT_ENCODING, v));
        }
        let length = out.content_length.map(|n| n.to_string());
        let mut to_sign: Vec<(&str, &[u8])> = vec![("host", authority.as_bytes())];
        to_sign.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        if let Some(l) = &length {
            to_sign.push(("content-length", l.as_bytes()));
        }
        let mut params =
            SigningParams::new(&self.settings.access_key_id, &self.settings.secret_access_key, &self.settings.region, "s3", now).for_s3();
        // The body is checked here as it streams; the upstream takes it unsigned.
        params.payload = PayloadSigning::Unsigned;
        let unsigned = HttpRequest { method: out.method.as_str(), path: &encoded, query: &query, headers: &to_sign, body: &[] };
        let signature = sign_headers(&params, &unsigned).map_err(unreachable_upstream)?;

        let uri = format!(
            "{}://{authority}{encoded}{}{query}",
            self.settings.url.scheme_str().unwrap_or("http"),
            if query.is_empty() { "" } else { "?" },
        );
        let mut request = Request::builder().method(out.method.clone()).uri(uri);
        for (n, v) in headers {
            request = request.header(n, v);
        }
        if let Some(l) = &length {
            request = request.header(header::CONTENT_LENGTH, l.as_str());
        }
        for (n, v) in signature.headers() {
            request = request.header(n, v);
        }
        let request = request.body(body).map_err(unreachable_upstream)?;
        self.client.request(request).await.map_err(unreachable_upstream)
    }
}

/// The largest upstream error body read to learn its code.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The upstream's response as ours: its status, its headers but the
/// hop-by-hop ones, our request id, its body streamed. An error response
/// (small XML) is read to learn its code and message, for the audit record.
/// Upstream refusals of latchkey's own key are not the caller's business:
/// they become InternalError, and are logged.
pub async fn relay(response: Response<hyper::body::Incoming>, request_id: &str) -> Result<(Response<Body>, Option<(String, String)>), ApiError> {
    use http_body_util::BodyExt;
    let (mut parts, incoming) = response.into_parts();
    for name in ["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"] {
        parts.headers.remove(name);
    }
    if let Some(upstream_id) = parts.headers.remove("x-amz-request-id") {
        parts.headers.insert("x-latchkey-upstream-request-id", upstream_id);
    }
    crate::protocol::s3::request_id_headers(&mut parts.headers, request_id);
    if parts.status.is_success() || parts.status.is_redirection() || parts.status.is_informational() {
        return Ok((Response::from_parts(parts, Body::new(incoming)), None));
    }
    let limited = http_body_util::Limited::new(incoming, MAX_ERROR_BODY);
    let bytes = limited.collect().await.map_err(unreachable_upstream)?.to_bytes();
    let (code, message) = error_code(&bytes);
    if matches!(code.as_str(), "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken" | "RequestTimeTooSkewed")
    {
        return Err(unreachable_upstream(format_args!("the upstream refused latchkey's own key: {code}: {message}")));
    }
    Ok((Response::from_parts(parts, Body::from(bytes)), Some((code, message))))
}

/// `<Code>` and `<Message>` of an S3 error document; the status's reason
/// when there is none (a HEAD's error has no body).
fn error_code(body: &[u8]) -> (String, String) {
    use crate::protocol::s3::element;
    let text = String::from_utf8_lossy(body);
    (element(&text, "Code").unwrap_or_else(|| "UpstreamError".to_owned()), element(&text, "Message").unwrap_or_default())
}

/// A bucket name or key as a path, each byte outside SigV4's unreserved
/// set percent-encoded, `/` kept.
fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_sigv4_encodes_them() {
        assert_eq!(encode("a b/c+d~e%"), "a%20b/c%2Bd~e%25");
        assert_eq!(encode("ü"), "%C3%BC");
    }

    #[test]
    fn the_upstream_secret_stays_out_of_debug() {
        let s = UpstreamSettings {
            url: Uri::from_static("http://127.0.0.1:9000"),
            access_key_id: "UPSTREAMKEY".into(),
            secret_access_key: Zeroizing::new("upstream-secret-value".into()),
            region: "us-east-1".into(),
        };
        assert!(!format!("{s:?}").contains("upstream-secret-value"));
    }
}
