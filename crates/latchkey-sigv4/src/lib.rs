//! AWS Signature Version 4 verification (and signing), pure and
//! allocation-light, for a server that must accept what AWS SDKs send.
//!
//! The crate does no I/O: the server hands it the parts of a request that
//! SigV4 covers ([`HttpRequest`]), [`parse`] reads what the request claims
//! (access key, scope, date, signed headers), the server looks up the
//! secret for that access key and derives (or fetches from a
//! [`SigningKeyCache`]) the [`SigningKey`], and [`SignedRequest::verify`]
//! checks the time window and the signature. Errors carry the code,
//! message and HTTP status AWS STS and IAM answer with.
//!
//! Canonicalization follows what non-S3 services (STS, IAM) do: the path is
//! normalized and URI-encoded again ("double encoding"), query parameters
//! are decoded, re-encoded and sorted, header values are trimmed with inner
//! whitespace collapsed. It passes AWS's SigV4 test suite.
//!
//! # Example
//!
//! ```
//! use latchkey_sigv4::{
//!     CredentialScope, HttpRequest, SigningKeyCache, SigningParams, parse, sign_headers,
//! };
//!
//! # fn main() -> Result<(), latchkey_sigv4::Error> {
//! let now = 1_440_938_160; // 2015-08-30T12:36:00Z
//! let body = b"Action=GetCallerIdentity&Version=2011-06-15";
//! let mut headers: Vec<(&str, &[u8])> = vec![
//!     ("Host", b"sts.amazonaws.com"),
//!     ("Content-Type", b"application/x-www-form-urlencoded; charset=utf-8"),
//! ];
//!
//! // Client side: sign.
//! let params = SigningParams::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!                                 "us-east-1", "sts", now);
//! let unsigned = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body };
//! let signature = sign_headers(&params, &unsigned)?;
//! let added = signature.headers();
//! headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
//!
//! // Server side: parse, check the scope, fetch the key, verify.
//! let req = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body };
//! let claimed = parse(&req)?.expect("the request is signed");
//! claimed.check_scope("us-east-1", "sts")?;
//! let cache = SigningKeyCache::new(1024);
//! let key = cache.get_or_derive(claimed.access_key_id(), claimed.scope(), || {
//!     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" // looked up by access key id
//! });
//! claimed.verify(&req, &key, now)?;
//!
//! // Any change to the request breaks the signature.
//! let tampered = HttpRequest { body: b"Action=GetSessionToken&Version=2011-06-15", ..req };
//! let err = claimed.verify(&tampered, &key, now).unwrap_err();
//! assert_eq!(err.code(), "SignatureDoesNotMatch");
//! assert_eq!(err.http_status(), 403);
//! # let _ = CredentialScope::new("20150830", "us-east-1", "sts");
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod canonical;
mod chunked;
mod error;
mod key;
mod payload;
mod sign;
mod time;
mod verify;

pub use chunked::{
    ChunkVerifier, ChunkedDecoder, ChunkedOptions, ChunkedSummary, DEFAULT_MAX_CHUNK_SIZE,
    MAX_CHUNK_HEADER, MAX_TRAILER,
};
pub use error::{
    BodyCode, BodyError, Code, Error, ExpiresProblem, QueryEscapeProblem, ScopeMismatch,
};
pub use key::{CredentialScope, SigningKey, SigningKeyCache};
pub use payload::{
    Checksum, ChecksumAlgorithm, ChecksumCheck, ChecksumValue, ChunkedMode, PayloadCheck,
    Sha256Check,
};
pub use sign::{
    ChunkSigner, ChunkedEncoder, HeaderSignature, PayloadSigning, SigningParams, presign_query,
    sign_headers,
};
pub use verify::{MAX_PRESIGNED_AGE_S3, SignatureValid, SignedRequest, VerifyOptions, parse};

/// The parts of a received HTTP request that SigV4 covers, borrowed from the
/// server.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The method, e.g. `POST`, as received (clients sign it uppercase).
    pub method: &'a str,
    /// The path as received, still percent-encoded, without the query.
    pub path: &'a str,
    /// The raw query string without `?`; may be empty.
    pub query: &'a str,
    /// Headers as received: names in any case, duplicates allowed, in order.
    /// Must include `host` (for HTTP/2, the `:authority` value as `host`).
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body.
    pub body: &'a [u8],
}

/// Where a request carries its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// In the `Authorization` header.
    Header,
    /// In `X-Amz-*` query parameters (a presigned URL).
    Query,
}
