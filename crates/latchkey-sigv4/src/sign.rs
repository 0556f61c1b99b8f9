//! Signing, for clients, tests and load generators. It shares the
//! canonicalization code with the verifier, so what it signs verifies.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::HttpRequest;
use crate::canonical::{
    ALGORITHM, PathStyle, UNSIGNED_PAYLOAD, canonical_request_prefix, decode_hex32, hex_lower,
    sha256_hex, uri_encode,
};
use crate::chunked::ChunkChain;
use crate::error::{Error, ExpiresProblem};
use crate::key::{CredentialScope, SigningKey};
use crate::payload::{Checksum, ChecksumAlgorithm, ChunkedMode};
use crate::time::iso_basic_bytes;
use crate::verify::compute_signature;

/// How the body enters the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadSigning {
    /// The body's SHA-256 is signed (the default, and what STS/IAM clients
    /// do).
    BodySha256,
    /// `UNSIGNED-PAYLOAD` is signed instead; the body is not covered.
    Unsigned,
    /// The body will be sent aws-chunked in this mode (S3): its
    /// `x-amz-content-sha256` value is signed, and the body is encoded with
    /// a [`ChunkedEncoder`] seeded with the resulting signature. Set
    /// `content_sha256_header` too, and sign `content-encoding:
    /// aws-chunked` and `x-amz-decoded-content-length` headers as S3 wants.
    Chunked(ChunkedMode),
}

/// What to sign with, and how.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key (never printed by `Debug`).
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials (never printed by
    /// `Debug`).
    pub session_token: Option<&'a str>,
    /// The region to scope the signature to, e.g. `us-east-1`.
    pub region: &'a str,
    /// The service to scope the signature to, e.g. `sts`.
    pub service: &'a str,
    /// The signing time, unix seconds.
    pub time_unix: i64,
    /// How the body is signed.
    pub payload: PayloadSigning,
    /// Also send (and sign) an `x-amz-content-sha256` header.
    pub content_sha256_header: bool,
    /// Sign the session token. When false, the token is added after signing,
    /// as some IoT clients do; the verifier in this crate accepts that for
    /// headers but not for presigned queries, where AWS signs every
    /// parameter.
    pub sign_session_token: bool,
    /// Normalize the path before signing (all services except S3).
    pub normalize_path: bool,
    /// URI-encode the (already encoded) path once more before signing (all
    /// services except S3).
    pub double_encode_path: bool,
}

impl<'a> SigningParams<'a> {
    /// Parameters with the defaults botocore uses for STS/IAM: body hash
    /// signed, no `x-amz-content-sha256` header, path normalized.
    pub fn new(
        access_key_id: &'a str,
        secret_access_key: &'a str,
        region: &'a str,
        service: &'a str,
        time_unix: i64,
    ) -> Self {
        Self {
            access_key_id,
            secret_access_key,
            session_token: None,
            region,
            service,
            time_unix,
            payload: PayloadSigning::BodySha256,
            content_sha256_header: false,
            sign_session_token: true,
            normalize_path: true,
            double_encode_path: true,
        }
    }

    /// The same parameters the way S3 clients sign: the path as sent
    /// (neither normalized nor encoded again) and an
    /// `x-amz-content-sha256` header.
    pub fn for_s3(mut self) -> Self {
        self.normalize_path = false;
        self.double_encode_path = false;
        self.content_sha256_header = true;
        self
    }

    fn path_style(&self) -> PathStyle {
        PathStyle {
            normalize: self.normalize_path,
            double_encode: self.double_encode_path,
        }
    }

    /// The same parameters with a session token.
    pub fn with_session_token(mut self, token: &'a str) -> Self {
        self.session_token = Some(token);
        self
    }
}

impl fmt::Debug for SigningParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time_unix", &self.time_unix)
            .field("payload", &self.payload)
            .field("content_sha256_header", &self.content_sha256_header)
            .field("sign_session_token", &self.sign_session_token)
            .field("normalize_path", &self.normalize_path)
            .field("double_encode_path", &self.double_encode_path)
            .finish()
    }
}

/// The headers to add to a request to sign it.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderSignature {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The `X-Amz-Date` header value.
    pub x_amz_date: String,
    /// The `X-Amz-Security-Token` header value, with temporary credentials.
    pub x_amz_security_token: Option<String>,
    /// The `X-Amz-Content-Sha256` header value, when requested.
    pub x_amz_content_sha256: Option<String>,
    /// The signature, lowercase hex (also inside `authorization`).
    pub signature: String,
}

impl HeaderSignature {
    /// The headers to add, names in their usual spelling.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("X-Amz-Date", self.x_amz_date.as_str())];
        if let Some(t) = &self.x_amz_security_token {
            out.push(("X-Amz-Security-Token", t));
        }
        if let Some(h) = &self.x_amz_content_sha256 {
            out.push(("X-Amz-Content-Sha256", h));
        }
        out.push(("Authorization", &self.authorization));
        out
    }
}

impl fmt::Debug for HeaderSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderSignature")
            .field("authorization", &self.authorization)
            .field("x_amz_date", &self.x_amz_date)
            .field(
                "x_amz_security_token",
                &self.x_amz_security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("x_amz_content_sha256", &self.x_amz_content_sha256)
            .finish_non_exhaustive()
    }
}

/// Headers the signer owns (it replaces any copy in the request) or never
/// signs (they are routinely rewritten in transit, as botocore notes).
fn is_unsignable(name: &str) -> bool {
    [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "user-agent",
        "expect",
        "x-amzn-trace-id",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// Sorted, deduplicated, lowercase names joined with `;`.
fn signed_header_list<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let mut names: Vec<String> = names.map(str::to_ascii_lowercase).collect();
    names.sort_unstable();
    names.dedup();
    names.join(";")
}

struct Prepared {
    amz_date: [u8; 16],
    scope: CredentialScope,
    key: SigningKey,
    payload: String,
}

/// The request date, scope and signing key `params` sign with.
fn date_scope_key(
    params: &SigningParams<'_>,
) -> Result<([u8; 16], CredentialScope, SigningKey), Error> {
    let amz_date = iso_basic_bytes(params.time_unix).ok_or_else(|| Error::InvalidDate {
        value: params.time_unix.to_string(),
    })?;
    let day = std::str::from_utf8(amz_date.get(..8).unwrap_or_default()).unwrap_or_default();
    let scope = CredentialScope::new(day, params.region, params.service);
    let key = SigningKey::derive(params.secret_access_key, &scope);
    Ok((amz_date, scope, key))
}

fn prepare(params: &SigningParams<'_>, req: &HttpRequest<'_>) -> Result<Prepared, Error> {
    let (amz_date, scope, key) = date_scope_key(params)?;
    let payload = match params.payload {
        PayloadSigning::BodySha256 => String::from_utf8_lossy(&sha256_hex(req.body)).into_owned(),
        PayloadSigning::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
        PayloadSigning::Chunked(mode) => mode.content_sha256().to_owned(),
    };
    Ok(Prepared {
        amz_date,
        scope,
        key,
        payload,
    })
}

fn ascii(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Signs `req` with an `Authorization` header.
///
/// Every header of `req` is signed except `user-agent`, `expect` and
/// `x-amzn-trace-id`; `req` must contain `host`. Copies of the headers the
/// signer adds are ignored. Add [`HeaderSignature::headers`] to the request
/// before sending it.
pub fn sign_headers(
    params: &SigningParams<'_>,
    req: &HttpRequest<'_>,
) -> Result<HeaderSignature, Error> {
    let p = prepare(params, req)?;
    let mut headers: Vec<(&str, &[u8])> = req
        .headers
        .iter()
        .filter(|(n, _)| !is_unsignable(n))
        .copied()
        .collect();
    let mut signed_names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    headers.push(("x-amz-date", &p.amz_date));
    signed_names.push("x-amz-date");
    if let Some(token) = params.session_token {
        headers.push(("x-amz-security-token", token.as_bytes()));
        if params.sign_session_token {
            signed_names.push("x-amz-security-token");
        }
    }
    if params.content_sha256_header {
        headers.push(("x-amz-content-sha256", p.payload.as_bytes()));
        signed_names.push("x-amz-content-sha256");
    }
    if !signed_names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(Error::HostNotSigned);
    }
    let signed_headers = signed_header_list(signed_names.into_iter());
    let prefix = canonical_request_prefix(
        req,
        req.query,
        false,
        &headers,
        &signed_headers,
        params.path_style(),
    )?;
    let signature = compute_signature(&p.key, &p.amz_date, &p.scope, &prefix, p.payload.as_bytes());
    let signature = ascii(&hex_lower(&signature));
    Ok(HeaderSignature {
        authorization: format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_headers}, Signature={signature}",
            params.access_key_id, p.scope
        ),
        x_amz_date: ascii(&p.amz_date),
        x_amz_security_token: params.session_token.map(str::to_owned),
        x_amz_content_sha256: params.content_sha256_header.then(|| p.payload.clone()),
        signature,
    })
}

/// Presigns `req`: returns its query string (without `?`) with the
/// `X-Amz-*` authentication parameters appended, valid for
/// `expires_secs` (1..=604800) seconds.
///
/// Every header of `req` is signed (except `user-agent`, `expect`,
/// `x-amzn-trace-id`) and must be sent unchanged; `req` must contain
/// `host`.
pub fn presign_query(
    params: &SigningParams<'_>,
    req: &HttpRequest<'_>,
    expires_secs: u32,
) -> Result<String, Error> {
    if expires_secs == 0 {
        return Err(Error::InvalidExpires {
            problem: ExpiresProblem::NotPositive,
        });
    }
    if expires_secs > 604_800 {
        return Err(Error::InvalidExpires {
            problem: ExpiresProblem::TooLarge,
        });
    }
    let p = prepare(params, req)?;
    let names = req
        .headers
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !is_unsignable(n));
    let signed_headers = signed_header_list(names);
    if !signed_headers.split(';').any(|n| n == "host") {
        return Err(Error::HostNotSigned);
    }
    let mut query = String::from(req.query);
    let mut add = |key: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(key);
        query.push('=');
        query.push_str(value);
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add(
        "X-Amz-Credential",
        &uri_encode(&format!("{}/{}", params.access_key_id, p.scope)),
    );
    add("X-Amz-Date", &ascii(&p.amz_date));
    add("X-Amz-SignedHeaders", &uri_encode(&signed_headers));
    add("X-Amz-Expires", &expires_secs.to_string());
    let token = params.session_token.map(uri_encode);
    if let (Some(t), true) = (&token, params.sign_session_token) {
        add("X-Amz-Security-Token", t);
    }
    let prefix = canonical_request_prefix(
        req,
        &query,
        false,
        req.headers,
        &signed_headers,
        params.path_style(),
    )?;
    let signature = compute_signature(&p.key, &p.amz_date, &p.scope, &prefix, p.payload.as_bytes());
    if let (Some(t), false) = (&token, params.sign_session_token) {
        query.push_str("&X-Amz-Security-Token=");
        query.push_str(t);
    }
    query.push_str("&X-Amz-Signature=");
    query.push_str(&ascii(&hex_lower(&signature)));
    Ok(query)
}

/// Signs the chunks of an aws-chunked body, each chained to the one before,
/// starting from the request's signature (the "seed").
#[derive(Clone)]
pub struct ChunkSigner {
    chain: ChunkChain,
}

impl ChunkSigner {
    /// A signer for the body of a request signed with `params`, whose
    /// signature (64 hex digits, e.g. [`HeaderSignature::signature`]) is
    /// `seed_signature`.
    pub fn new(params: &SigningParams<'_>, seed_signature: &str) -> Result<Self, Error> {
        let (amz_date, scope, key) = date_scope_key(params)?;
        let seed = decode_hex32(seed_signature.as_bytes()).ok_or(Error::SignatureDoesNotMatch)?;
        Ok(Self {
            chain: ChunkChain::new(key, amz_date, scope, seed),
        })
    }

    /// The signature of the next chunk (the final, empty one included),
    /// lowercase hex.
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        let signature = self.chain.chunk_signature(&Sha256::digest(data).into());
        self.chain.advance(signature);
        ascii(&hex_lower(&signature))
    }

    /// The signature of the trailer, given its headers as signed:
    /// `name:value\n` each. Lowercase hex.
    pub fn sign_trailer(&mut self, canonical_trailer: &[u8]) -> String {
        let signature = self
            .chain
            .trailer_signature(&Sha256::digest(canonical_trailer).into());
        self.chain.advance(signature);
        ascii(&hex_lower(&signature))
    }
}

impl fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChunkSigner(<redacted>)")
    }
}

/// Writes a body in aws-chunked framing, for clients, tests and load
/// generators: what [`ChunkedDecoder`](crate::ChunkedDecoder) reads.
#[derive(Debug)]
pub struct ChunkedEncoder {
    mode: ChunkedMode,
    signer: Option<ChunkSigner>,
    checksum: Option<Checksum>,
}

impl ChunkedEncoder {
    /// An encoder in `mode`. Signed modes need a `signer`
    /// ([`ChunkSigner::new`]) and an unsigned one ignores it; a signed
    /// mode without a signer writes signatures of zeros (for negative
    /// tests). With `checksum`, the trailer carries that checksum of the
    /// payload (which `x-amz-trailer` must announce); a mode without a
    /// trailer ignores it.
    pub fn new(
        mode: ChunkedMode,
        signer: Option<ChunkSigner>,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Self {
        Self {
            mode,
            signer: if mode.is_signed() { signer } else { None },
            checksum: if mode.has_trailer() {
                checksum.map(Checksum::new)
            } else {
                None
            },
        }
    }

    fn signature(&mut self, data: &[u8]) -> String {
        match &mut self.signer {
            Some(s) => s.sign_chunk(data),
            None => "0".repeat(64),
        }
    }

    /// Appends `data` as one chunk to `out`. Empty data writes nothing
    /// (an empty chunk would end the body).
    pub fn chunk(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(c) = &mut self.checksum {
            c.update(data);
        }
        out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if self.mode.is_signed() {
            let signature = self.signature(data);
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(signature.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the final chunk and, in trailer modes, the trailer (with
    /// the checksum and, when signed, the trailer signature) to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        out.push(b'0');
        if self.mode.is_signed() {
            let signature = self.signature(b"");
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(signature.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if self.mode.has_trailer() {
            let mut canonical = Vec::new();
            if let Some(c) = self.checksum.take() {
                let algorithm = c.algorithm();
                canonical.extend_from_slice(algorithm.header_name().as_bytes());
                canonical.push(b':');
                canonical.extend_from_slice(c.finalize().to_base64().as_bytes());
                canonical.push(b'\n');
            }
            for line in canonical.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            if self.mode.is_signed() {
                let signature = match &mut self.signer {
                    Some(s) => s.sign_trailer(&canonical),
                    None => "0".repeat(64),
                };
                out.extend_from_slice(b"x-amz-trailer-signature:");
                out.extend_from_slice(signature.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}
