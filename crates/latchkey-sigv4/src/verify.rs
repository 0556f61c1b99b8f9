//! Extracting what a request claims ([`parse`]) and checking it
//! ([`SignedRequest::verify`]).

use std::borrow::Cow;
use std::fmt;

use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::canonical::{
    ALGORITHM, PathStyle, UNSIGNED_PAYLOAD, canonical_request_prefix, decode_hex32, hex_lower,
    percent_decode, sha256_hex,
};
use crate::chunked::{ChunkChain, ChunkVerifier};
use crate::error::{Error, ExpiresProblem, ScopeMismatch};
use crate::key::{CredentialScope, SigningKey, hmac};
use crate::payload::{ChunkedMode, PayloadCheck};
use crate::time::{iso_basic_bytes, parse_iso_basic, parse_rfc1123};
use crate::{HttpRequest, Placement};

/// Longest validity a presigned request may ask for: one week.
const MAX_EXPIRES: u32 = 604_800;
/// What S3 lets a presigned URL live: `X-Amz-Expires` up to a week.
pub const MAX_PRESIGNED_AGE_S3: u32 = MAX_EXPIRES;
/// Validity assumed when a presigned request has no `X-Amz-Expires`; it is
/// also how long AWS STS honours any presigned request.
const DEFAULT_EXPIRES: u32 = 900;

/// Knobs for verification; the defaults are what AWS STS and IAM do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Allowed clock difference in seconds between the request date and
    /// `now` (AWS: 15 minutes).
    pub max_clock_skew_secs: i64,
    /// Remove `.`/`..` segments and duplicate slashes from the path before
    /// encoding it (every AWS service except S3 does).
    pub normalize_path: bool,
    /// URI-encode the wire path once more for the canonical request (every
    /// AWS service except S3 does; S3 signs the path exactly as sent).
    pub double_encode_path: bool,
    /// Accept `UNSIGNED-PAYLOAD` as the payload hash of any request. Such a
    /// signature does not cover the body, so anyone holding the request can
    /// replay it with another body until it expires. Only S3 accepts that
    /// (an S3 front end would turn this on); STS, IAM and the other services
    /// need the body's SHA-256 in a header-signed request. Whatever this
    /// says, a presigned URL may be signed over `UNSIGNED-PAYLOAD` when the
    /// request has no body, since then there is nothing left unsigned
    /// (botocore and the AWS SDKs presign that way).
    pub allow_unsigned_payload: bool,
    /// Upper bound, in seconds, on how long after `X-Amz-Date` a presigned
    /// request is accepted, whatever its `X-Amz-Expires` says. AWS STS
    /// ignores `X-Amz-Expires` and applies 900, so the default caps it
    /// there (a shorter `X-Amz-Expires` is still honoured); S3 honours it up
    /// to a week ([`MAX_PRESIGNED_AGE_S3`]).
    pub max_presigned_age_secs: u32,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            max_clock_skew_secs: 900,
            normalize_path: true,
            double_encode_path: true,
            allow_unsigned_payload: false,
            max_presigned_age_secs: DEFAULT_EXPIRES,
        }
    }
}

impl VerifyOptions {
    /// What S3 does: the path is signed as sent (neither normalized nor
    /// encoded again; botocore's `S3SigV4Auth` leaves it alone),
    /// `UNSIGNED-PAYLOAD` is accepted, and a presigned URL lives as long as
    /// its `X-Amz-Expires` says, up to a week ([`MAX_PRESIGNED_AGE_S3`]).
    ///
    /// Use it with [`SignedRequest::verify_deferred`], since an S3 body is
    /// streamed after the headers are checked.
    pub fn s3() -> Self {
        Self {
            max_clock_skew_secs: 900,
            normalize_path: false,
            double_encode_path: false,
            allow_unsigned_payload: true,
            max_presigned_age_secs: MAX_PRESIGNED_AGE_S3,
        }
    }

    fn path_style(&self) -> PathStyle {
        PathStyle {
            normalize: self.normalize_path,
            double_encode: self.double_encode_path,
        }
    }
}

/// Zero-sized proof that a signature was checked; cannot be constructed
/// outside this crate.
#[derive(Debug)]
pub struct SignatureValid {
    _private: (),
}

impl SignatureValid {
    /// The proof, for the verifiers of this crate (SigV4 here, SigV2 in
    /// `sigv2`) to hand out once a signature has matched, so that the
    /// server treats both alike.
    pub(crate) fn issue() -> Self {
        Self { _private: () }
    }
}

/// What a request claims about its signature: parsed, nothing checked
/// cryptographically yet.
#[derive(Clone)]
pub struct SignedRequest {
    access_key_id: String,
    scope: CredentialScope,
    /// The credential's terminator when it is not `aws4_request`.
    bad_terminator: Option<String>,
    signed_headers: String,
    /// `None` when the signature is not 64 hex digits; such a request can
    /// only fail verification.
    signature: Option<[u8; 32]>,
    amz_date: [u8; 16],
    timestamp: i64,
    session_token: Option<String>,
    placement: Placement,
    expires: u32,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .field("amz_date", &self.amz_date())
            .field("placement", &self.placement)
            // A session token is a credential; keep it out of logs.
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Case-insensitive header lookup; repeated headers are joined with `,` as
/// in the canonical request.
pub(crate) fn header<'a>(req: &HttpRequest<'a>, name: &str) -> Option<Cow<'a, [u8]>> {
    let mut values = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v);
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = first.to_vec();
            for v in std::iter::once(second).chain(values) {
                joined.push(b',');
                joined.extend_from_slice(v);
            }
            Some(Cow::Owned(joined))
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `X-Amz-*` parameters of a presigned query, percent-decoded.
#[derive(Default)]
struct AuthQuery<'a> {
    present: bool,
    algorithm: Option<Cow<'a, [u8]>>,
    credential: Option<Cow<'a, [u8]>>,
    date: Option<Cow<'a, [u8]>>,
    signed_headers: Option<Cow<'a, [u8]>>,
    signature: Option<Cow<'a, [u8]>>,
    expires: Option<Cow<'a, [u8]>>,
    security_token: Option<Cow<'a, [u8]>>,
    content_sha256: Option<Cow<'a, [u8]>>,
}

impl<'a> AuthQuery<'a> {
    fn scan(query: &'a str) -> Self {
        let mut q = Self::default();
        for raw in query.as_bytes().split(|&b| b == b'&') {
            let (key, value) = match raw.iter().position(|&b| b == b'=') {
                Some(eq) => {
                    let (k, v) = raw.split_at(eq);
                    (k, v.get(1..).unwrap_or_default())
                }
                None => (raw, &b""[..]),
            };
            // Only `X-Amz-` keys matter here; anything else, including keys
            // with broken escapes, is left for canonicalization to judge.
            let Ok(key) = percent_decode(key) else {
                continue;
            };
            let slot = match &*key {
                b"X-Amz-Algorithm" => {
                    q.present = true;
                    &mut q.algorithm
                }
                b"X-Amz-Credential" => &mut q.credential,
                b"X-Amz-Date" => &mut q.date,
                b"X-Amz-SignedHeaders" => &mut q.signed_headers,
                b"X-Amz-Signature" => &mut q.signature,
                b"X-Amz-Expires" => &mut q.expires,
                b"X-Amz-Security-Token" => &mut q.security_token,
                b"X-Amz-Content-Sha256" => &mut q.content_sha256,
                _ => continue,
            };
            // First occurrence wins; an undecodable value is kept raw so
            // the request still fails (its canonical query will not build).
            if slot.is_none() {
                *slot = Some(percent_decode(value).unwrap_or(Cow::Borrowed(value)));
            }
        }
        q
    }
}

fn non_empty<'c>(v: &'c Option<Cow<'_, [u8]>>) -> Option<&'c [u8]> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// The components of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct AuthHeader<'a> {
    algorithm: &'a str,
    credential: Option<&'a str>,
    signed_headers: Option<&'a str>,
    signature: Option<&'a str>,
}

impl<'a> AuthHeader<'a> {
    /// Splits the header into scheme and `key=value` components. AWS
    /// accepts commas, whitespace or both between components.
    fn parse(header: &'a str) -> Result<Self, Error> {
        let header = header.trim();
        let (algorithm, rest) = header
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((header, ""));
        let mut out = Self {
            algorithm,
            credential: None,
            signed_headers: None,
            signature: None,
        };
        for pair in rest
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|p| !p.is_empty())
        {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(Error::MalformedAuthorizationPair {
                    pair: pair.to_owned(),
                    header: header.to_owned(),
                });
            };
            let slot = match key {
                "Credential" => &mut out.credential,
                "SignedHeaders" => &mut out.signed_headers,
                "Signature" => &mut out.signature,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        Ok(out)
    }
}

/// Parses the request date: `X-Amz-Date` style, or RFC 1123 for a `Date`
/// header. Returns the string-to-sign form and unix seconds.
fn parse_date(value: &[u8], allow_rfc1123: bool) -> Result<([u8; 16], i64), Error> {
    let value = trim_ascii(value);
    if let Some(t) = parse_iso_basic(value)
        && let Ok(bytes) = <[u8; 16]>::try_from(value)
    {
        return Ok((bytes, t));
    }
    if allow_rfc1123
        && let Some(t) = parse_rfc1123(value)
        && let Some(bytes) = iso_basic_bytes(t)
    {
        return Ok((bytes, t));
    }
    Err(Error::InvalidDate {
        value: lossy(value),
    })
}

/// Splits `keyid/date/region/service/term`; trailing slashes are ignored,
/// as AWS does.
fn split_credential(credential: &str) -> Result<(&str, &str, &str, &str, &str), Error> {
    let trimmed = credential.trim_end_matches('/');
    let mut parts = trimmed.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(id), Some(date), Some(region), Some(service), Some(term), None) => {
            Ok((id, date, region, service, term))
        }
        _ => Err(Error::MalformedCredential {
            credential: credential.to_owned(),
        }),
    }
}

fn lists_host(signed_headers: &str) -> bool {
    signed_headers
        .split(';')
        .any(|h| h.eq_ignore_ascii_case("host"))
}

fn parse_expires(value: Option<&[u8]>) -> Result<u32, Error> {
    let Some(value) = value else {
        return Ok(DEFAULT_EXPIRES);
    };
    let text = std::str::from_utf8(value).map_err(|_| Error::InvalidExpires {
        problem: ExpiresProblem::NotANumber,
    })?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidExpires {
            problem: ExpiresProblem::NotANumber,
        });
    }
    if text.starts_with('-') || digits.bytes().all(|b| b == b'0') {
        return Err(Error::InvalidExpires {
            problem: ExpiresProblem::NotPositive,
        });
    }
    match digits.parse::<u32>() {
        Ok(n) if n <= MAX_EXPIRES => Ok(n),
        _ => Err(Error::InvalidExpires {
            problem: ExpiresProblem::TooLarge,
        }),
    }
}

/// Reads the SigV4 authentication a request claims, without checking it.
///
/// Returns `Ok(None)` when the request carries no SigV4 authentication at
/// all (no `Authorization` header and no `X-Amz-Algorithm` query
/// parameter): the server decides whether that is allowed, since some STS
/// actions are unsigned. Never panics, whatever the input.
///
/// Checks, in AWS's order: ambiguity, missing components, date format,
/// `host` being signed, algorithm, credential shape, `X-Amz-Expires`. The
/// credential's date and terminator are checked by
/// [`SignedRequest::check_scope`] and [`SignedRequest::verify`], so that all
/// scope problems are reported together as AWS does.
pub fn parse(req: &HttpRequest<'_>) -> Result<Option<SignedRequest>, Error> {
    let auth_header = header(req, "authorization");
    let auth_query = AuthQuery::scan(req.query);
    match (auth_header, auth_query.present) {
        (None, false) => Ok(None),
        (Some(_), true) => Err(Error::AmbiguousAuthentication),
        (Some(h), false) => parse_header_auth(req, &h, &auth_query).map(Some),
        (None, true) => parse_query_auth(&auth_query).map(Some),
    }
}

fn parse_header_auth(
    req: &HttpRequest<'_>,
    auth: &[u8],
    query: &AuthQuery<'_>,
) -> Result<SignedRequest, Error> {
    // Invalid UTF-8 can only garble the components, and garbled components
    // fail later with the error they deserve.
    let auth = String::from_utf8_lossy(auth);
    let parsed = AuthHeader::parse(&auth)?;
    let date_header = header(req, "x-amz-date")
        .map(|v| (v, false))
        .or_else(|| header(req, "date").map(|v| (v, true)));
    let credential = parsed.credential.filter(|c| !c.is_empty());
    let signature = parsed.signature.filter(|s| !s.is_empty());
    let (Some(credential), Some(signature), Some(signed_headers), Some((date, is_http_date))) =
        (credential, signature, parsed.signed_headers, &date_header)
    else {
        return Err(Error::MissingAuthorizationComponents {
            algorithm: parsed.algorithm.to_owned(),
            credential: credential.is_none(),
            signature: signature.is_none(),
            signed_headers: parsed.signed_headers.is_none(),
            date: date_header.is_none(),
        });
    };
    let (amz_date, timestamp) = parse_date(date, *is_http_date)?;
    if !lists_host(signed_headers) {
        return Err(Error::HostNotSigned);
    }
    if parsed.algorithm != ALGORITHM {
        return Err(Error::UnsupportedAlgorithm {
            algorithm: parsed.algorithm.to_owned(),
        });
    }
    let token = match header(req, "x-amz-security-token") {
        Some(t) => Some(t),
        None => query.security_token.clone(),
    };
    build(
        credential,
        signed_headers,
        signature.as_bytes(),
        amz_date,
        timestamp,
        token.as_deref(),
        Placement::Header,
        DEFAULT_EXPIRES,
    )
}

fn parse_query_auth(q: &AuthQuery<'_>) -> Result<SignedRequest, Error> {
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) = (
        non_empty(&q.algorithm),
        non_empty(&q.credential),
        non_empty(&q.signature),
        non_empty(&q.signed_headers),
        non_empty(&q.date),
    ) else {
        return Err(Error::MissingQueryParameters {
            algorithm: non_empty(&q.algorithm).is_none(),
            credential: non_empty(&q.credential).is_none(),
            signature: non_empty(&q.signature).is_none(),
            signed_headers: non_empty(&q.signed_headers).is_none(),
            date: non_empty(&q.date).is_none(),
        });
    };
    let (amz_date, timestamp) = parse_date(date, false)?;
    let signed_headers = String::from_utf8_lossy(signed_headers);
    if !lists_host(&signed_headers) {
        return Err(Error::HostNotSigned);
    }
    if algorithm != ALGORITHM.as_bytes() {
        return Err(Error::UnsupportedAlgorithm {
            algorithm: lossy(algorithm),
        });
    }
    let credential = String::from_utf8_lossy(credential);
    // Shape first, so a malformed credential is reported before a bad
    // expiry, as AWS orders it.
    split_credential(&credential)?;
    let expires = parse_expires(q.expires.as_deref())?;
    build(
        &credential,
        &signed_headers,
        signature,
        amz_date,
        timestamp,
        q.security_token.as_deref(),
        Placement::Query,
        expires,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one private constructor shared by the two placements"
)]
fn build(
    credential: &str,
    signed_headers: &str,
    signature: &[u8],
    amz_date: [u8; 16],
    timestamp: i64,
    session_token: Option<&[u8]>,
    placement: Placement,
    expires: u32,
) -> Result<SignedRequest, Error> {
    let (access_key_id, date, region, service, term) = split_credential(credential)?;
    let session_token = match session_token {
        None => None,
        Some(t) => Some(
            std::str::from_utf8(t)
                .map_err(|_| Error::InvalidSecurityToken)?
                .to_owned(),
        ),
    };
    Ok(SignedRequest {
        access_key_id: access_key_id.to_owned(),
        scope: CredentialScope::new(date, region, service),
        bad_terminator: (term != "aws4_request").then(|| term.to_owned()),
        signed_headers: signed_headers.to_owned(),
        signature: decode_hex32(signature),
        amz_date,
        timestamp,
        session_token,
        placement,
        expires,
    })
}

/// Feeds the string to sign to `put`, piece by piece, so it can be MACed
/// without being assembled.
fn write_string_to_sign(
    amz_date: &[u8; 16],
    scope: &CredentialScope,
    canonical_hash: &[u8; 32],
    mut put: impl FnMut(&[u8]),
) {
    put(ALGORITHM.as_bytes());
    put(b"\n");
    put(amz_date);
    put(b"\n");
    put(scope.as_str().as_bytes());
    put(b"/aws4_request\n");
    put(&hex_lower(canonical_hash));
}

/// The signature over a canonical request given as prefix + payload hash.
pub(crate) fn compute_signature(
    key: &SigningKey,
    amz_date: &[u8; 16],
    scope: &CredentialScope,
    canonical_prefix: &[u8],
    payload: &[u8],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(canonical_prefix);
    hasher.update(payload);
    let canonical_hash: [u8; 32] = hasher.finalize().into();
    let mut mac = hmac(key.bytes());
    write_string_to_sign(amz_date, scope, &canonical_hash, |part| mac.update(part));
    mac.finalize().into_bytes().into()
}

/// The payload hash line of the canonical request.
enum Payload<'a> {
    /// SHA-256 of the body, computed here.
    Computed([u8; 64]),
    /// The value of an `x-amz-content-sha256` header, already checked.
    Declared(Cow<'a, [u8]>),
}

impl Payload<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Computed(hex) => hex,
            Self::Declared(v) => v,
        }
    }
}

impl SignedRequest {
    /// The access key id from the credential.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The credential scope the client claims.
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }

    /// The session token (`X-Amz-Security-Token` header or query parameter),
    /// if any; signed or not, the server must check it belongs to the key.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// Where the signature was carried.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Unix seconds of the request date (`X-Amz-Date`, or `Date`).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The request date as used in the string to sign,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub fn amz_date(&self) -> &str {
        std::str::from_utf8(&self.amz_date).unwrap_or_default()
    }

    /// The `;`-separated signed header names, as the client listed them.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// `X-Amz-Expires` of a presigned request (900 when absent); `None` for
    /// header-signed requests.
    pub fn expires(&self) -> Option<u32> {
        (self.placement == Placement::Query).then_some(self.expires)
    }

    fn scope_mismatch(&self) -> ScopeMismatch {
        let day = self.amz_date.get(..8).unwrap_or_default();
        ScopeMismatch {
            terminator: self.bad_terminator.clone(),
            date: (self.scope.date().as_bytes() != day)
                .then(|| (self.scope.date().to_owned(), self.amz_date().to_owned())),
            ..ScopeMismatch::default()
        }
    }

    /// Checks the credential scope against this service: its region and
    /// service name, plus the terminator and date that
    /// [`verify`](Self::verify) also checks. All problems are reported in
    /// one [`Error::ScopeMismatch`], worded as AWS STS words it.
    pub fn check_scope(&self, region: &str, service: &str) -> Result<(), Error> {
        let mut mismatch = self.scope_mismatch();
        if self.scope.region() != region {
            mismatch.region = Some(self.scope.region().to_owned());
        }
        if self.scope.service() != service {
            mismatch.expected_service = Some(service.to_owned());
        }
        if mismatch.is_empty() {
            Ok(())
        } else {
            Err(Error::ScopeMismatch(mismatch))
        }
    }

    /// Checks that the credential scope names a region `is_valid` accepts,
    /// for a server that answers in many regions. A refused region is
    /// reported together with the terminator and date problems
    /// [`verify`](Self::verify) would find, in one [`Error::ScopeMismatch`],
    /// as AWS words them.
    pub fn check_region(&self, is_valid: impl FnOnce(&str) -> bool) -> Result<(), Error> {
        if is_valid(self.scope.region()) {
            return Ok(());
        }
        Err(Error::ScopeMismatch(ScopeMismatch {
            region: Some(self.scope.region().to_owned()),
            ..self.scope_mismatch()
        }))
    }

    /// Checks the time window, then the signature, with default
    /// [`VerifyOptions`].
    ///
    /// `key` must be derived for [`scope`](Self::scope) from the secret of
    /// [`access_key_id`](Self::access_key_id). Header-signed requests must
    /// satisfy `|now - timestamp| <= 15 min`; presigned ones
    /// `timestamp - 15 min <= now <= timestamp + X-Amz-Expires`. The scope's
    /// date must be the date of `X-Amz-Date` and its terminator
    /// `aws4_request`. The signature is compared in constant time.
    pub fn verify(
        &self,
        req: &HttpRequest<'_>,
        key: &SigningKey,
        now_unix: i64,
    ) -> Result<SignatureValid, Error> {
        self.verify_with(req, key, now_unix, &VerifyOptions::default())
    }

    /// [`verify`](Self::verify) with explicit options.
    pub fn verify_with(
        &self,
        req: &HttpRequest<'_>,
        key: &SigningKey,
        now_unix: i64,
        opts: &VerifyOptions,
    ) -> Result<SignatureValid, Error> {
        self.check_time(now_unix, opts)?;
        let mismatch = self.scope_mismatch();
        if !mismatch.is_empty() {
            return Err(Error::ScopeMismatch(mismatch));
        }
        let payload = self.payload(req, opts)?;
        let prefix = self.canonical_prefix(req, opts)?;
        let Some(provided) = self.signature else {
            return Err(Error::SignatureDoesNotMatch);
        };
        if self.signature_matches(key, &prefix, payload.bytes(), &provided) {
            return Ok(SignatureValid { _private: () });
        }
        // A presigned URL does not say how its body was hashed; S3-style
        // presigners use UNSIGNED-PAYLOAD, so that is the one other hash a
        // genuine signature can have been made over (and is accepted only
        // when it leaves nothing unsigned, or the service allows it).
        if self.placement == Placement::Query
            && self.unsigned_payload_allowed(req, opts)
            && matches!(payload, Payload::Computed(_))
            && self.signature_matches(key, &prefix, UNSIGNED_PAYLOAD.as_bytes(), &provided)
        {
            return Ok(SignatureValid { _private: () });
        }
        Err(Error::SignatureDoesNotMatch)
    }

    /// Checks the time window and the signature of a request whose body
    /// has not been read yet, as S3 must (the body streams in after the
    /// headers are accepted), and says what is left to check on the body.
    ///
    /// The signature is checked over the payload hash the request
    /// *declares*; `req.body` is ignored. The returned [`PayloadCheck`] is
    /// the caller's to carry out on the body as it streams, before
    /// committing anything: a [`Sha256Check`](crate::Sha256Check) for a
    /// declared hash, a [`ChunkedDecoder`](crate::ChunkedDecoder) for an
    /// aws-chunked body.
    ///
    /// A header-signed request must carry `x-amz-content-sha256`
    /// ([`Error::MissingContentSha256`]). A presigned one is signed over
    /// `UNSIGNED-PAYLOAD` unless an `x-amz-content-sha256` header (or
    /// `X-Amz-Content-Sha256` query parameter) says otherwise. The value
    /// must be 64 hex digits, `UNSIGNED-PAYLOAD`,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` or
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`; anything else, SigV4a's
    /// `STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD` included, is
    /// [`Error::InvalidContentSha256`]. The two unsigned values need
    /// [`VerifyOptions::allow_unsigned_payload`] (on in
    /// [`VerifyOptions::s3`]), presigned or not, since the body cannot be
    /// seen to be empty here.
    pub fn verify_deferred(
        &self,
        req: &HttpRequest<'_>,
        key: &SigningKey,
        now_unix: i64,
        opts: &VerifyOptions,
    ) -> Result<(SignatureValid, PayloadCheck), Error> {
        self.check_time(now_unix, opts)?;
        let mismatch = self.scope_mismatch();
        if !mismatch.is_empty() {
            return Err(Error::ScopeMismatch(mismatch));
        }
        let (declared, check) = self.declared_payload(req, opts)?;
        let prefix = self.canonical_prefix(req, opts)?;
        let Some(provided) = self.signature else {
            return Err(Error::SignatureDoesNotMatch);
        };
        if self.signature_matches(key, &prefix, &declared, &provided) {
            Ok((SignatureValid { _private: () }, check))
        } else {
            Err(Error::SignatureDoesNotMatch)
        }
    }

    /// The payload hash line a deferred verification signs over, and what
    /// it leaves to check on the body.
    fn declared_payload<'r>(
        &self,
        req: &HttpRequest<'r>,
        opts: &VerifyOptions,
    ) -> Result<(Cow<'r, [u8]>, PayloadCheck), Error> {
        let declared = match header(req, "x-amz-content-sha256") {
            Some(v) => v,
            None if self.placement == Placement::Query => {
                match AuthQuery::scan(req.query).content_sha256 {
                    Some(v) => v,
                    None => Cow::Borrowed(UNSIGNED_PAYLOAD.as_bytes()),
                }
            }
            None => return Err(Error::MissingContentSha256),
        };
        // The client hashed the value's text as it sent it.
        let declared = match declared {
            Cow::Borrowed(b) => Cow::Borrowed(trim_ascii(b)),
            Cow::Owned(b) => Cow::Owned(trim_ascii(&b).to_vec()),
        };
        let check = if &*declared == UNSIGNED_PAYLOAD.as_bytes() {
            PayloadCheck::Unsigned
        } else if let Some(mode) = ChunkedMode::from_content_sha256(&declared) {
            PayloadCheck::Chunked(mode)
        } else if let Some(hash) = decode_hex32(&declared) {
            PayloadCheck::Sha256(hash)
        } else {
            return Err(Error::InvalidContentSha256 {
                value: lossy(&declared),
            });
        };
        let unsigned = matches!(
            check,
            PayloadCheck::Unsigned | PayloadCheck::Chunked(ChunkedMode::UnsignedWithTrailer)
        );
        if unsigned && !opts.allow_unsigned_payload {
            return Err(Error::UnsignedPayloadNotAllowed);
        }
        Ok((declared, check))
    }

    /// The verifier of an aws-chunked body's chunk signatures, chained from
    /// this request's signature; for a request that
    /// [`verify_deferred`](Self::verify_deferred) accepted (hence `_proof`)
    /// with [`PayloadCheck::Chunked`] in a signed mode.
    ///
    /// `key` must be the key the request was verified with. Fails only when
    /// the request's signature is not 64 hex digits, which a verified
    /// request's is.
    pub fn chunk_verifier(
        &self,
        key: &SigningKey,
        _proof: &SignatureValid,
    ) -> Result<ChunkVerifier, Error> {
        let seed = self.signature.ok_or(Error::SignatureDoesNotMatch)?;
        Ok(ChunkVerifier::new(ChunkChain::new(
            key.clone(),
            self.amz_date,
            self.scope.clone(),
            seed,
        )))
    }

    fn check_time(&self, now: i64, opts: &VerifyOptions) -> Result<(), Error> {
        let skew = opts.max_clock_skew_secs;
        let expires = self.expires.min(opts.max_presigned_age_secs);
        let signed_at = self.timestamp;
        if signed_at > now.saturating_add(skew) {
            return Err(Error::SignatureNotYetCurrent {
                signed_at,
                now,
                skew,
            });
        }
        match self.placement {
            Placement::Header if signed_at < now.saturating_sub(skew) => {
                Err(Error::SignatureExpired {
                    signed_at,
                    now,
                    skew,
                })
            }
            Placement::Query if now > signed_at.saturating_add(i64::from(expires)) => {
                Err(Error::PresignedExpired {
                    signed_at,
                    expires,
                    now,
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether `UNSIGNED-PAYLOAD` may stand for this request's body: when
    /// the service allows it ([`VerifyOptions::allow_unsigned_payload`]), or
    /// for a presigned request with no body. A presigned request's body
    /// would otherwise carry parameters its signature never covered (form
    /// parameters are read after the query's).
    fn unsigned_payload_allowed(&self, req: &HttpRequest<'_>, opts: &VerifyOptions) -> bool {
        opts.allow_unsigned_payload || (self.placement == Placement::Query && req.body.is_empty())
    }

    /// The payload hash: a declared `x-amz-content-sha256` (which must be
    /// the body's hash, or `UNSIGNED-PAYLOAD` where that is allowed), else
    /// the body's SHA-256.
    fn payload<'r>(
        &self,
        req: &HttpRequest<'r>,
        opts: &VerifyOptions,
    ) -> Result<Payload<'r>, Error> {
        let body_hash = sha256_hex(req.body);
        let Some(declared) = header(req, "x-amz-content-sha256") else {
            return Ok(Payload::Computed(body_hash));
        };
        let value = trim_ascii(&declared);
        if value == UNSIGNED_PAYLOAD.as_bytes() {
            if !self.unsigned_payload_allowed(req, opts) {
                return Err(Error::UnsignedPayloadNotAllowed);
            }
        } else if !value.eq_ignore_ascii_case(&body_hash) {
            return Err(Error::ContentSha256Mismatch);
        }
        // The client hashed the header's text as it sent it.
        Ok(Payload::Declared(match declared {
            Cow::Borrowed(b) => Cow::Borrowed(trim_ascii(b)),
            Cow::Owned(b) => Cow::Owned(trim_ascii(&b).to_vec()),
        }))
    }

    fn canonical_prefix(
        &self,
        req: &HttpRequest<'_>,
        opts: &VerifyOptions,
    ) -> Result<Vec<u8>, Error> {
        canonical_request_prefix(
            req,
            req.query,
            self.placement == Placement::Query,
            req.headers,
            &self.signed_headers,
            opts.path_style(),
        )
    }

    fn signature_matches(
        &self,
        key: &SigningKey,
        prefix: &[u8],
        payload: &[u8],
        provided: &[u8; 32],
    ) -> bool {
        let computed = compute_signature(key, &self.amz_date, &self.scope, prefix, payload);
        computed.ct_eq(provided).into()
    }

    /// The canonical request this verifier builds for `req` (for debugging
    /// and tests; [`verify`](Self::verify) hashes the same bytes). The
    /// payload line is the declared or computed body hash.
    pub fn canonical_request(
        &self,
        req: &HttpRequest<'_>,
        opts: &VerifyOptions,
    ) -> Result<Vec<u8>, Error> {
        let payload = self.payload(req, opts)?;
        let mut out = self.canonical_prefix(req, opts)?;
        out.extend_from_slice(payload.bytes());
        Ok(out)
    }

    /// The string to sign for `req`, from [`canonical_request`](Self::canonical_request).
    pub fn string_to_sign(
        &self,
        req: &HttpRequest<'_>,
        opts: &VerifyOptions,
    ) -> Result<Vec<u8>, Error> {
        let canonical = self.canonical_request(req, opts)?;
        let mut sts = Vec::with_capacity(ALGORITHM.len() + self.scope.as_str().len() + 100);
        write_string_to_sign(
            &self.amz_date,
            &self.scope,
            &Sha256::digest(&canonical).into(),
            |part| sts.extend_from_slice(part),
        );
        Ok(sts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn req_with<'a>(headers: &'a [(&'a str, &'a [u8])], query: &'a str) -> HttpRequest<'a> {
        HttpRequest {
            method: "GET",
            path: "/",
            query,
            headers,
            body: b"",
        }
    }

    fn parse_auth(auth: &str) -> Result<Option<SignedRequest>, Error> {
        let headers = [
            ("Host", &b"example.amazonaws.com"[..]),
            ("X-Amz-Date", b"20150830T123600Z"),
            ("Authorization", auth.as_bytes()),
        ];
        parse(&req_with(&headers, ""))
    }

    #[test]
    fn unsigned_request_is_none() {
        let headers = [("Host", &b"h"[..])];
        assert!(
            parse(&req_with(&headers, "Action=GetCallerIdentity"))
                .unwrap()
                .is_none()
        );
        assert!(
            parse(&req_with(&headers, "X-Amz-Credential=a"))
                .unwrap()
                .is_none()
        );
        assert!(parse(&req_with(&[], "")).unwrap().is_none());
    }

    #[test]
    fn parses_vanilla_header() {
        let s = parse_auth(AUTH).unwrap().unwrap();
        assert_eq!(s.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(s.scope().region(), "us-east-1");
        assert_eq!(s.scope().service(), "service");
        assert_eq!(s.scope().date(), "20150830");
        assert_eq!(s.timestamp(), 1_440_938_160);
        assert_eq!(s.placement(), Placement::Header);
        assert_eq!(s.signed_headers(), "host;x-amz-date");
        assert_eq!(s.expires(), None);
        assert_eq!(s.session_token(), None);
        assert!(s.check_scope("us-east-1", "service").is_ok());
    }

    #[test]
    fn separators_may_be_spaces_or_commas() {
        for auth in [
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request SignedHeaders=host;x-amz-date Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,SignedHeaders=host;x-amz-date,Signature=00",
            "  AWS4-HMAC-SHA256\tCredential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request ,, SignedHeaders=host;x-amz-date , Signature=00  ",
        ] {
            let s = parse_auth(auth).unwrap().unwrap();
            assert_eq!(s.signed_headers(), "host;x-amz-date", "{auth}");
        }
    }

    #[test]
    fn missing_components_are_listed() {
        let e = parse_auth("AWS4-HMAC-SHA256 Foo=Bar, Baz=Burp").unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
        assert_eq!(e.http_status(), 400);
        assert_eq!(
            e.message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"
        );
        let headers = [("Authorization", &b"a"[..])];
        let e = parse(&req_with(&headers, "")).unwrap_err();
        assert_eq!(
            e.message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=a"
        );
        let e = parse_auth("AWS4-HMAC-SHA256 Credential=, Signature=, SignedHeaders=").unwrap_err();
        assert_eq!(
            e.message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256"
        );
    }

    #[test]
    fn malformed_pairs() {
        let e = parse_auth("AWS4-HMAC-SHA256 FooBar, BazBurp").unwrap_err();
        assert_eq!(
            e.message(),
            "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 FooBar, BazBurp'."
        );
        let e = parse_auth("Bearer abc.def").unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
        assert!(
            e.message()
                .starts_with("'abc.def' not a valid key=value pair")
        );
    }

    #[test]
    fn later_checks_in_order() {
        let e = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, Signature=ABCDEF, SignedHeaders=x-amz-date",
        )
        .unwrap_err();
        assert_eq!(e, Error::HostNotSigned);
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        assert_eq!(e.http_status(), 403);
        let e = parse_auth(
            "AWS5-HMAC-SHA256 Credential=AKIDEXAMPLE, Signature=ABCDEF, SignedHeaders=HOST",
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "Unsupported AWS 'algorithm': 'AWS5-HMAC-SHA256'."
        );
        let e = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, Signature=ABCDEF, SignedHeaders=host",
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE'"
        );
        // Trailing slashes are ignored.
        let s = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/r/s/aws4_request//, Signature=00, SignedHeaders=host",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.scope().service(), "s");
    }

    #[test]
    fn bad_dates() {
        let headers = [
            ("Host", &b"h"[..]),
            ("X-Amz-Date", b"2015/08/30T12/36/00Z"),
            ("Authorization", AUTH.as_bytes()),
        ];
        let e = parse(&req_with(&headers, "")).unwrap_err();
        assert_eq!(
            e.message(),
            "Date must be in ISO-8601 'basic format'. Got '2015/08/30T12/36/00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
        // X-Amz-Date wins over Date; Date may be RFC 1123.
        let headers = [
            ("Host", &b"h"[..]),
            ("Date", b"Sun, 30 Aug 2015 12:36:00 GMT"),
            ("Authorization", AUTH.as_bytes()),
        ];
        let s = parse(&req_with(&headers, "")).unwrap().unwrap();
        assert_eq!(s.amz_date(), "20150830T123600Z");
    }

    #[test]
    fn scope_problems_are_combined() {
        let s = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKID/foobar/wrong-region/wrong-service/aws5_request, Signature=00, SignedHeaders=host",
        )
        .unwrap()
        .unwrap();
        let e = s.check_scope("us-east-1", "sts").unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        assert_eq!(
            e.message(),
            "Credential should be scoped to a valid region. Credential should be scoped to correct service: 'sts'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: 'foobar' != '20150830', from '20150830T123600Z'."
        );
        let s = parse_auth(AUTH).unwrap().unwrap();
        assert_eq!(
            s.check_scope("us-east-1", "sts").unwrap_err().message(),
            "Credential should be scoped to correct service: 'sts'. "
        );
        assert_eq!(
            s.check_scope("eu-west-1", "service").unwrap_err().message(),
            "Credential should be scoped to a valid region. "
        );
    }

    #[test]
    fn regions_are_checked_with_the_other_scope_problems() {
        let s = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/xx-fake-9/sts/aws4_request, Signature=00, SignedHeaders=host",
        )
        .unwrap()
        .unwrap();
        let e = s.check_region(|r| r == "us-east-1").unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("SignatureDoesNotMatch", 403));
        assert_eq!(
            e.message(),
            "Credential should be scoped to a valid region. "
        );
        assert!(s.check_region(|r| r == "xx-fake-9").is_ok());
        let s = parse_auth(
            "AWS4-HMAC-SHA256 Credential=AKID/20150831/xx-fake-9/sts/aws5_request, Signature=00, SignedHeaders=host",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.check_region(|_| false).unwrap_err().message(),
            "Credential should be scoped to a valid region. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
        );
        // A valid region leaves the other problems to `verify`.
        assert!(s.check_region(|_| true).is_ok());
    }

    #[test]
    fn query_auth_errors() {
        let e = parse(&req_with(&[], "X-Amz-Algorithm")).unwrap_err();
        assert_eq!(
            e.message(),
            "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
        );
        let headers = [("Authorization", AUTH.as_bytes())];
        assert_eq!(
            parse(&req_with(&headers, "X-Amz-Algorithm=AWS4-HMAC-SHA256")).unwrap_err(),
            Error::AmbiguousAuthentication
        );
        let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        for (expires, problem) in [
            ("abc", ExpiresProblem::NotANumber),
            ("", ExpiresProblem::NotANumber),
            ("-5", ExpiresProblem::NotPositive),
            ("0", ExpiresProblem::NotPositive),
            ("604801", ExpiresProblem::TooLarge),
            ("99999999999999999999", ExpiresProblem::TooLarge),
        ] {
            let q = format!("{base}&X-Amz-Expires={expires}");
            assert_eq!(
                parse(&req_with(&[], &q)).unwrap_err(),
                Error::InvalidExpires { problem },
                "{expires}"
            );
        }
        let s = parse(&req_with(&[], base)).unwrap().unwrap();
        assert_eq!(s.expires(), Some(900));
        assert_eq!(s.placement(), Placement::Query);
        let q = format!("{base}&X-Amz-Expires=604800&X-Amz-Security-Token=a%2Bb");
        let s = parse(&req_with(&[], &q)).unwrap().unwrap();
        assert_eq!(s.expires(), Some(604_800));
        assert_eq!(s.session_token(), Some("a+b"));
        assert!(!format!("{s:?}").contains("a+b"));
    }

    #[test]
    fn error_texts() {
        assert_eq!(Error::MissingAuthenticationToken.http_status(), 403);
        assert_eq!(
            Error::MissingAuthenticationToken.to_string(),
            "Request is missing Authentication Token"
        );
        let e = Error::SignatureExpired {
            signed_at: 1_440_938_160 - 901,
            now: 1_440_938_160,
            skew: 900,
        };
        assert_eq!(
            e.message(),
            "Signature expired: 20150830T122059Z is now earlier than 20150830T122100Z (20150830T123600Z - 15 min.)"
        );
        let e = Error::SignatureNotYetCurrent {
            signed_at: 1_440_938_160 + 901,
            now: 1_440_938_160,
            skew: 900,
        };
        assert_eq!(
            e.message(),
            "Signature not yet current: 20150830T125101Z is still later than 20150830T125100Z (20150830T123600Z + 15 min.)"
        );
        assert_eq!(
            Error::MalformedQueryString(crate::QueryEscapeProblem::IncompleteTrailing)
                .http_status(),
            404
        );
    }
}
