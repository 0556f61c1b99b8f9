//! S3's Signature Version 2 ([`parse_v2`], [`SignedV2::verify`]): the
//! `Authorization: AWS AccessKeyId:Signature` header, and presigned URLs
//! with `AWSAccessKeyId`, `Signature` and `Expires` query parameters.
//!
//! The aws CLI v1 (`aws s3 presign`) and boto3, unless told
//! `signature_version="s3v4"`, presign S3 URLs this way, and old clients
//! sign headers this way; S3 still verifies both, so an S3 front end must
//! too. The signature is `base64(HMAC-SHA1(secret, StringToSign))` over
//!
//! ```text
//! HTTP-Verb\n Content-MD5\n Content-Type\n Date\n CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! as described in AWS's "Signing and authenticating REST requests"
//! (RESTAuthentication) and done by botocore's `HmacV1Auth` and
//! `HmacV1QueryAuth`, whose output the tests check against.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::canonical::percent_decode;
use crate::error::Error;
use crate::time::{parse_iso_basic, parse_rfc1123};
use crate::verify::{SignatureValid, header};
use crate::{HttpRequest, Placement};

/// How far, in seconds, a header-signed request's date may be from the
/// server's clock (S3: 15 minutes).
const MAX_CLOCK_SKEW: i64 = 900;

/// The query parameters that select a sub-resource and so are signed, with
/// their values, in the CanonicalizedResource; every other parameter is
/// left out of the signature.
///
/// This is botocore's `HmacV1Auth.QSAOfInterest` (botocore 1.44), which is
/// what the clients that still sign this way sign over; a parameter missing
/// from a client's list would make its signatures fail, one extra would not
/// matter unless a client sent it. It holds AWS's documented list (`acl`,
/// `delete`, `lifecycle`, `location`, `logging`, `notification`,
/// `partNumber`, `policy`, `requestPayment`, the `response-*` overrides,
/// `tagging`, `torrent`, `uploadId`, `uploads`, `versionId`, `versioning`,
/// `versions`, `website`) and some later ones, but not every sub-resource
/// S3 now has: `encryption`, `retention`, `legal-hold`,
/// `ownershipControls`, `publicAccessBlock`, `intelligent-tiering` and
/// `attributes`, among others, are not signed by SigV2 clients, so a
/// server should not let such a parameter, unsigned, turn a SigV2 request
/// into another operation.
pub const SUBRESOURCES_V2: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// What a SigV2 request claims: parsed, nothing checked cryptographically
/// yet.
#[derive(Clone)]
pub struct SignedV2 {
    access_key_id: String,
    /// `None` when the signature is not the base64 of 20 bytes; such a
    /// request can only fail verification.
    signature: Option<[u8; 20]>,
    session_token: Option<String>,
    placement: Placement,
    /// Query form: `Expires` as sent (it is signed as text) and as unix
    /// seconds.
    expires: Option<(Vec<u8>, i64)>,
    /// Header form: unix seconds of `x-amz-date`, else `Date`.
    date: Option<i64>,
}

impl fmt::Debug for SignedV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedV2")
            .field("access_key_id", &self.access_key_id)
            .field("placement", &self.placement)
            .field("expires", &self.expires())
            .field("date", &self.date)
            // A session token is a credential; keep it out of logs.
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// One `key[=value]` of a raw query string.
fn split_param(raw: &[u8]) -> (&[u8], Option<&[u8]>) {
    match raw.iter().position(|&b| b == b'=') {
        Some(eq) => {
            let (k, v) = raw.split_at(eq);
            (k, Some(v.get(1..).unwrap_or_default()))
        }
        None => (raw, None),
    }
}

/// The parameters of a raw query string, keys decoded (a key whose escapes
/// are broken is skipped: it can name nothing this module looks for), values
/// raw.
fn params(query: &str) -> impl Iterator<Item = (Cow<'_, [u8]>, Option<&[u8]>)> {
    query
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .filter_map(|raw| {
            let (key, value) = split_param(raw);
            percent_decode(key).ok().map(|k| (k, value))
        })
}

/// The decoded value of the first query parameter named `name` (exactly);
/// an undecodable value is kept raw, so the request still fails.
fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, [u8]>> {
    params(query)
        .find(|(k, _)| **k == *name.as_bytes())
        .map(|(_, v)| {
            let v = v.unwrap_or_default();
            percent_decode(v).unwrap_or(Cow::Borrowed(v))
        })
}

/// Like [`query_param`], with the name matched case-insensitively, as
/// botocore lowercases the headers it moves into a presigned URL.
fn query_param_ci<'a>(query: &'a str, name: &str) -> Option<Cow<'a, [u8]>> {
    params(query)
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| {
            let v = v.unwrap_or_default();
            percent_decode(v).unwrap_or(Cow::Borrowed(v))
        })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a SigV2 request date: an HTTP date (`GMT`, or the `+0000` of
/// AWS's own examples), or, as some clients put in `x-amz-date`, ISO 8601
/// basic format.
fn parse_http_date(value: &[u8]) -> Option<i64> {
    let value = value.trim_ascii();
    if let Some(t) = parse_rfc1123(value).or_else(|| parse_iso_basic(value)) {
        return Some(t);
    }
    let stem = value
        .strip_suffix(b" +0000")
        .or_else(|| value.strip_suffix(b" -0000"))
        .or_else(|| value.strip_suffix(b" UTC"))?;
    let mut gmt = stem.to_vec();
    gmt.extend_from_slice(b" GMT");
    parse_rfc1123(&gmt)
}

/// Decodes a base64 SHA-1 signature; `None` when it cannot be one.
fn decode_signature(value: &[u8]) -> Option<[u8; 20]> {
    let bytes = BASE64.decode(value.trim_ascii()).ok()?;
    <[u8; 20]>::try_from(bytes.as_slice()).ok()
}

fn decode_token(token: Option<Cow<'_, [u8]>>) -> Result<Option<String>, Error> {
    token
        .map(|t| {
            std::str::from_utf8(&t)
                .map(str::to_owned)
                .map_err(|_| Error::InvalidSecurityToken)
        })
        .transpose()
}

/// Whether an `Authorization` header uses the SigV2 scheme word, `AWS`.
fn is_v2_scheme(auth: &[u8]) -> bool {
    let auth = auth.trim_ascii_start();
    auth.strip_prefix(b"AWS")
        .and_then(|rest| rest.first())
        .is_some_and(u8::is_ascii_whitespace)
}

/// Reads the SigV2 authentication a request claims, without checking it.
///
/// Returns `Ok(None)` when the request carries none: no `Authorization`
/// header with the `AWS` scheme, and no `AWSAccessKeyId` or `Signature`
/// query parameter. A server accepting both versions calls this first and
/// [`parse`](crate::parse) when it answers `Ok(None)` (`parse` would call a
/// SigV2 header malformed). Never panics, whatever the input.
///
/// Errors: [`Error::AmbiguousAuthentication`] when the request carries two
/// kinds of authentication (SigV2 in the header and the query, or SigV2 and
/// SigV4); [`Error::MalformedAuthorizationV2`] for a header that is not
/// `AWS AccessKeyId:Signature`; [`Error::InvalidDateV2`] for a
/// header-signed request without a usable `x-amz-date` or `Date`;
/// [`Error::MissingQueryParametersV2`] and [`Error::InvalidExpiresV2`] for
/// a presigned URL without all three parameters or with an `Expires` that
/// is not a number; [`Error::InvalidSecurityToken`] for a session token
/// that is not UTF-8.
pub fn parse_v2(req: &HttpRequest<'_>) -> Result<Option<SignedV2>, Error> {
    let auth = header(req, "authorization");
    let header_v2 = auth.as_deref().is_some_and(is_v2_scheme);
    let query_v2 = params(req.query).any(|(k, _)| matches!(&*k, b"AWSAccessKeyId" | b"Signature"));
    let query_v4 = params(req.query).any(|(k, _)| &*k == b"X-Amz-Algorithm");
    if !header_v2 && !query_v2 {
        return Ok(None);
    }
    // Exactly one kind of authentication, as S3 insists.
    if (header_v2 && (query_v2 || query_v4)) || (query_v2 && (auth.is_some() || query_v4)) {
        return Err(Error::AmbiguousAuthentication);
    }
    match auth {
        Some(auth) => parse_header(req, &auth).map(Some),
        None => parse_query(req).map(Some),
    }
}

fn parse_header(req: &HttpRequest<'_>, auth: &[u8]) -> Result<SignedV2, Error> {
    let malformed = || Error::MalformedAuthorizationV2 {
        header: lossy(auth),
    };
    let credentials = auth
        .trim_ascii()
        .strip_prefix(b"AWS")
        .map(<[u8]>::trim_ascii_start)
        .ok_or_else(malformed)?;
    let colon = credentials
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(malformed)?;
    let (access_key_id, signature) = credentials.split_at(colon);
    let signature = signature.get(1..).unwrap_or_default();
    if access_key_id.is_empty() || signature.is_empty() {
        return Err(malformed());
    }
    // `x-amz-date` wins over `Date` (a proxy may rewrite the latter).
    let date = header(req, "x-amz-date").or_else(|| header(req, "date"));
    let Some(date) = date else {
        return Err(Error::InvalidDateV2 { value: None });
    };
    let date = parse_http_date(&date).ok_or_else(|| Error::InvalidDateV2 {
        value: Some(lossy(&date)),
    })?;
    let token = header(req, "x-amz-security-token")
        .or_else(|| query_param_ci(req.query, "x-amz-security-token"));
    Ok(SignedV2 {
        access_key_id: lossy(access_key_id),
        signature: decode_signature(signature),
        session_token: decode_token(token)?,
        placement: Placement::Header,
        expires: None,
        date: Some(date),
    })
}

fn parse_query(req: &HttpRequest<'_>) -> Result<SignedV2, Error> {
    let non_empty = |name| query_param(req.query, name).filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(signature), Some(expires)) = (
        non_empty("AWSAccessKeyId"),
        non_empty("Signature"),
        non_empty("Expires"),
    ) else {
        return Err(Error::MissingQueryParametersV2);
    };
    let seconds = std::str::from_utf8(&expires)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Error::InvalidExpiresV2 {
            value: lossy(&expires),
        })?;
    let token = header(req, "x-amz-security-token")
        .or_else(|| query_param_ci(req.query, "x-amz-security-token"));
    Ok(SignedV2 {
        access_key_id: lossy(&access_key_id),
        signature: decode_signature(&signature),
        session_token: decode_token(token)?,
        placement: Placement::Query,
        expires: Some((expires.into_owned(), seconds)),
        date: None,
    })
}

impl SignedV2 {
    /// The access key id (`AWS AccessKeyId:...` or `AWSAccessKeyId`).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The session token (`x-amz-security-token` header or query
    /// parameter), if any; it is signed, but the server must still check
    /// that it belongs to the access key.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// Where the signature was carried.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// `Expires` of a presigned URL, in unix seconds; `None` for
    /// header-signed requests.
    pub fn expires(&self) -> Option<i64> {
        self.expires.as_ref().map(|(_, t)| *t)
    }

    /// The request time of a header-signed request (`x-amz-date`, else
    /// `Date`), in unix seconds; `None` for presigned URLs, which carry
    /// only an expiry.
    pub fn date(&self) -> Option<i64> {
        self.date
    }

    /// Checks the time, then the signature.
    ///
    /// `bucket` is the bucket of a virtual-hosted-style request (named by
    /// the host, not the path), which clients sign as if the path started
    /// with `/bucket`; `None` for path-style requests, whose path is signed
    /// as sent. `secret_access_key` is the secret of
    /// [`access_key_id`](Self::access_key_id).
    ///
    /// A presigned URL is valid until its `Expires` (inclusive), however far
    /// away, as S3 allows; past it, [`Error::PresignedExpired`]. A
    /// header-signed request must be within 15 minutes of `now_unix`
    /// ([`Error::SignatureExpired`], [`Error::SignatureNotYetCurrent`]).
    /// The signature is compared in constant time; a mismatch is
    /// [`Error::SignatureDoesNotMatch`].
    pub fn verify(
        &self,
        req: &HttpRequest<'_>,
        bucket: Option<&str>,
        secret_access_key: &str,
        now_unix: i64,
    ) -> Result<SignatureValid, Error> {
        self.check_time(now_unix)?;
        let Some(provided) = self.signature else {
            return Err(Error::SignatureDoesNotMatch);
        };
        let matches = |slash| -> Result<bool, Error> {
            let string_to_sign = self.build_string_to_sign(req, bucket, slash)?;
            let computed = sign(secret_access_key.as_bytes(), &string_to_sign);
            Ok(computed.ct_eq(&provided).into())
        };
        // A path-style bucket is signed as `/bucket/` (botocore, S3); a
        // client that signed the path as sent, `/bucket`, named the same
        // resource, so that is accepted too.
        if matches(true)? || (bucket_only(req.path, bucket) && matches(false)?) {
            Ok(SignatureValid::issue())
        } else {
            Err(Error::SignatureDoesNotMatch)
        }
    }

    fn check_time(&self, now: i64) -> Result<(), Error> {
        if let Some((_, expires)) = self.expires {
            if now > expires {
                return Err(Error::PresignedExpired {
                    signed_at: expires,
                    expires: 0,
                    now,
                });
            }
            return Ok(());
        }
        let signed_at = self.date.unwrap_or_default();
        let skew = MAX_CLOCK_SKEW;
        if signed_at > now.saturating_add(skew) {
            return Err(Error::SignatureNotYetCurrent {
                signed_at,
                now,
                skew,
            });
        }
        if signed_at < now.saturating_sub(skew) {
            return Err(Error::SignatureExpired {
                signed_at,
                now,
                skew,
            });
        }
        Ok(())
    }

    /// The StringToSign this verifier builds for `req` (what S3 echoes in
    /// a `SignatureDoesNotMatch` answer, and handy in tests); `bucket` as
    /// for [`verify`](Self::verify).
    ///
    /// For a presigned URL, the Date line is `Expires`, and Content-MD5,
    /// Content-Type and `x-amz-*` values may come from query parameters,
    /// where botocore moves them when presigning (a header wins for
    /// Content-MD5 and Content-Type; `x-amz-*` headers and parameters are
    /// all signed). For a header-signed request, the Date line is empty
    /// when `x-amz-date` is present (it is signed among the `x-amz-*`
    /// headers instead).
    ///
    /// The CanonicalizedResource is `/bucket` (for a virtual-hosted
    /// request) and the path as sent, still percent-encoded; a path-style
    /// request to a bucket itself (`/bucket`) is signed as `/bucket/`, as
    /// botocore signs it.
    pub fn string_to_sign(
        &self,
        req: &HttpRequest<'_>,
        bucket: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        self.build_string_to_sign(req, bucket, true)
    }

    fn build_string_to_sign(
        &self,
        req: &HttpRequest<'_>,
        bucket: Option<&str>,
        bucket_slash: bool,
    ) -> Result<Vec<u8>, Error> {
        let presigned = self.placement == Placement::Query;
        let standard = |name: &str| {
            header(req, name)
                .or_else(|| presigned.then(|| query_param_ci(req.query, name)).flatten())
        };
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(req.method.as_bytes());
        out.push(b'\n');
        for name in ["content-md5", "content-type"] {
            if let Some(v) = standard(name) {
                out.extend_from_slice(v.trim_ascii());
            }
            out.push(b'\n');
        }
        match &self.expires {
            Some((expires, _)) => out.extend_from_slice(expires),
            None => {
                if header(req, "x-amz-date").is_none()
                    && let Some(date) = header(req, "date")
                {
                    out.extend_from_slice(date.trim_ascii());
                }
            }
        }
        out.push(b'\n');
        push_amz_headers(&mut out, req, presigned);
        push_resource(&mut out, req, bucket, bucket_slash)?;
        Ok(out)
    }
}

/// The SigV2 signature before base64: HMAC-SHA1 of the string to sign,
/// keyed with the secret itself.
fn sign(secret: &[u8], string_to_sign: &[u8]) -> [u8; 20] {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of every length (long ones are hashed), so this cannot fail"
    )]
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC-SHA1 accepts any key length");
    mac.update(string_to_sign);
    mac.finalize().into_bytes().into()
}

/// CanonicalizedAmzHeaders: each `x-amz-*` header, name lowercased, values
/// trimmed and joined with `,` in the order received, sorted by name, as
/// `name:value\n`. For a presigned URL, `x-amz-*` query parameters count
/// too (after the headers of the same name).
fn push_amz_headers(out: &mut Vec<u8>, req: &HttpRequest<'_>, presigned: bool) {
    let from_headers = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase().into_bytes(), Cow::Borrowed(*v)));
    let from_query = params(req.query).filter(|_| presigned).map(|(k, v)| {
        let v = v.unwrap_or_default();
        (
            k.to_ascii_lowercase(),
            percent_decode(v).unwrap_or(Cow::Borrowed(v)),
        )
    });
    let mut amz: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (name, value) in from_headers.chain(from_query) {
        if !name.starts_with(b"x-amz-") {
            continue;
        }
        let value = value.trim_ascii();
        match amz.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push(b',');
                joined.extend_from_slice(value);
            }
            None => amz.push((name, value.to_vec())),
        }
    }
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in amz {
        out.extend_from_slice(&name);
        out.push(b':');
        out.extend_from_slice(&value);
        out.push(b'\n');
    }
}

/// Whether a path-style request addresses a bucket itself: `/bucket`,
/// without the slash the canonical resource ends such a path with.
fn bucket_only(path: &str, bucket: Option<&str>) -> bool {
    bucket.is_none()
        && path
            .strip_prefix('/')
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// CanonicalizedResource: `/bucket` for a virtual-hosted request, the path
/// as sent (still percent-encoded; `/bucket/` for a path-style `/bucket`
/// when `bucket_slash`), then `?` and the sub-resource
/// parameters, sorted by name (stably), values percent-decoded, each with
/// `=` only when it was sent with one.
fn push_resource(
    out: &mut Vec<u8>,
    req: &HttpRequest<'_>,
    bucket: Option<&str>,
    bucket_slash: bool,
) -> Result<(), Error> {
    if let Some(bucket) = bucket {
        out.push(b'/');
        out.extend_from_slice(bucket.as_bytes());
    }
    if req.path.is_empty() {
        out.push(b'/');
    } else {
        out.extend_from_slice(req.path.as_bytes());
        if bucket_slash && bucket_only(req.path, bucket) {
            out.push(b'/');
        }
    }
    let mut subresources: Vec<(&'static str, Option<Cow<'_, [u8]>>)> = Vec::new();
    for (key, value) in params(req.query) {
        let Some(name) = SUBRESOURCES_V2.iter().find(|s| s.as_bytes() == &*key) else {
            continue;
        };
        subresources.push((name, value.map(percent_decode).transpose()?));
    }
    subresources.sort_by_key(|(name, _)| *name);
    for (i, (name, value)) in subresources.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        out.extend_from_slice(name.as_bytes());
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
