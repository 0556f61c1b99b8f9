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
//! Canonicalization follows, by default, what non-S3 services (STS, IAM)
//! do: the path is normalized and URI-encoded again ("double encoding"),
//! query parameters are decoded, re-encoded and sorted, header values are
//! trimmed with inner whitespace collapsed. It passes AWS's SigV4 test
//! suite. S3 is covered too (see [below](#s3)).
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
//!
//! # S3
//!
//! S3 canonicalizes differently and reads its body after checking the
//! headers, so it has its own entry points:
//!
//! - [`VerifyOptions::s3`]: the path signed as sent (not normalized, not
//!   encoded again), `UNSIGNED-PAYLOAD` accepted, presigned URLs valid up
//!   to their `X-Amz-Expires` (a week at most).
//! - [`SignedRequest::verify_deferred`] checks the signature over the
//!   *declared* `x-amz-content-sha256` without the body, and returns a
//!   [`PayloadCheck`]: what to check on the body as it streams, before
//!   committing it. [`Sha256Check`] does a declared hash;
//!   [`ChecksumCheck::from_headers`] an `x-amz-checksum-*` header;
//!   [`ChunkedDecoder`] an aws-chunked body, with a [`ChunkVerifier`] from
//!   [`SignedRequest::chunk_verifier`] for its chunk signatures and
//!   [`ChunkedOptions::from_headers`] for `x-amz-decoded-content-length`
//!   and the `x-amz-trailer` checksum.
//! - Body problems are [`BodyError`]s, each with the S3 code
//!   ([`BodyCode`]) and status S3 answers with.
//! - Signing: [`SigningParams::for_s3`], [`PayloadSigning::Chunked`],
//!   [`ChunkSigner`] and [`ChunkedEncoder`], for clients, tests and load
//!   generators.
//!
//! ```
//! use latchkey_sigv4::{
//!     ChecksumAlgorithm, ChunkSigner, ChunkedDecoder, ChunkedEncoder, ChunkedMode,
//!     ChunkedOptions, HttpRequest, PayloadCheck, PayloadSigning, SigningKey, SigningParams,
//!     VerifyOptions, parse, sign_headers,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = 1_369_353_600;
//! let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
//! let payload = vec![b'a'; 100_000];
//! let mode = ChunkedMode::SignedWithTrailer;
//!
//! // Client side: sign the headers, then encode the body in 64 KiB chunks.
//! let mut params = SigningParams::new("AKIAIOSFODNN7EXAMPLE", secret, "us-east-1", "s3", now)
//!     .for_s3();
//! params.payload = PayloadSigning::Chunked(mode);
//! let length = payload.len().to_string();
//! let mut headers: Vec<(&str, &[u8])> = vec![
//!     ("Host", b"examplebucket.s3.amazonaws.com"),
//!     ("Content-Encoding", b"aws-chunked"),
//!     ("x-amz-decoded-content-length", length.as_bytes()),
//!     ("x-amz-trailer", b"x-amz-checksum-crc32"),
//! ];
//! let unsigned = HttpRequest { method: "PUT", path: "/key", query: "", headers: &headers, body: b"" };
//! let signature = sign_headers(&params, &unsigned)?;
//! let signer = ChunkSigner::new(&params, &signature.signature)?;
//! let mut encoder = ChunkedEncoder::new(mode, Some(signer), Some(ChecksumAlgorithm::Crc32));
//! let mut body = Vec::new();
//! for piece in payload.chunks(65_536) {
//!     encoder.chunk(piece, &mut body);
//! }
//! encoder.finish(&mut body);
//! let added = signature.headers();
//! headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
//!
//! // Server side: verify the headers, then decode the body as it arrives.
//! let req = HttpRequest { method: "PUT", path: "/key", query: "", headers: &headers, body: b"" };
//! let claimed = parse(&req)?.expect("the request is signed");
//! let key = SigningKey::derive(secret, claimed.scope());
//! let (valid, check) = claimed.verify_deferred(&req, &key, now, &VerifyOptions::s3())?;
//! let PayloadCheck::Chunked(mode) = check else { unreachable!() };
//! let verifier = mode.is_signed().then(|| claimed.chunk_verifier(&key, &valid)).transpose()?;
//! let mut decoder = ChunkedDecoder::new(mode, verifier, ChunkedOptions::from_headers(&headers)?);
//! let mut decoded = Vec::new();
//! for piece in body.chunks(1500) {
//!     decoder.feed(piece, &mut decoded)?; // stream `decoded` out, but commit nothing yet
//! }
//! let summary = decoder.finish()?; // now the payload is whole and checked
//! assert_eq!(decoded, payload);
//! assert_eq!(summary.checksum.map(|c| c.algorithm), Some(ChecksumAlgorithm::Crc32));
//! # Ok(())
//! # }
//! ```
//!
//! # S3 Signature Version 2
//!
//! The aws CLI v1 (`aws s3 presign`), boto3 unless configured for `s3v4`,
//! and old clients sign S3 requests with SigV2: `Authorization: AWS
//! AccessKeyId:Signature`, or `AWSAccessKeyId`, `Signature` and `Expires`
//! in the query. [`parse_v2`] reads that (call it before [`parse`], which
//! takes a SigV2 header for a malformed SigV4 one), and
//! [`SignedV2::verify`] checks it with the secret itself (SigV2 derives no
//! key), returning the same [`SignatureValid`] proof. The CanonicalizedResource
//! covers the path as sent and the sub-resource parameters in
//! [`SUBRESOURCES_V2`]; other parameters are not signed.
//!
//! ```
//! use latchkey_sigv4::{HttpRequest, Placement, parse_v2};
//!
//! # fn main() -> Result<(), latchkey_sigv4::Error> {
//! // AWS's example: a virtual-hosted GET, so the bucket is passed in.
//! let headers: [(&str, &[u8]); 3] = [
//!     ("Host", b"awsexamplebucket1.us-west-1.s3.amazonaws.com"),
//!     ("Date", b"Tue, 27 Mar 2007 19:36:42 +0000"),
//!     ("Authorization", b"AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
//! ];
//! let req = HttpRequest { method: "GET", path: "/photos/puppy.jpg", query: "", headers: &headers, body: b"" };
//! let claimed = parse_v2(&req)?.expect("the request is SigV2-signed");
//! assert_eq!(claimed.placement(), Placement::Header);
//! let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"; // looked up by claimed.access_key_id()
//! let now = claimed.date().unwrap_or_default(); // the server's clock, in practice
//! claimed.verify(&req, Some("awsexamplebucket1"), secret, now)?;
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
mod sigv2;
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
pub use sigv2::{SUBRESOURCES_V2, SignedV2, parse_v2};
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
