//! Errors, with the code, message and status AWS STS and IAM put on the wire.
//!
//! Where the wording comes from: the texts are the ones AWS's Query-protocol
//! services (STS, IAM) answer with, as recorded by people who probed them (an
//! STS "oracle" test suite, dynalite/kinesalite's captured responses,
//! scratchstack-aws-signature's error-ordering tests, botocore/Hadoop bug
//! reports) and the AWS "Common Errors" reference pages. JSON-protocol
//! services call `SignatureDoesNotMatch` `InvalidSignatureException`; the
//! messages are the same.

use std::fmt;

use crate::time::format_iso_basic;

/// Why a request's SigV4 authentication was refused.
///
/// [`Error::code`], [`Error::message`] and [`Error::http_status`] give what an
/// AWS Query-protocol service (STS, IAM) would answer; `Display` prints the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request carries no authentication, and the action needs some.
    ///
    /// [`parse`](crate::parse) never returns this (it answers `Ok(None)`);
    /// the server does once it knows the action is not an unsigned one.
    MissingAuthenticationToken,
    /// Both an `Authorization` header and an `X-Amz-Algorithm` query
    /// parameter are present, so it is ambiguous which one to check.
    AmbiguousAuthentication,
    /// A component of the `Authorization` header has no `=`.
    MalformedAuthorizationPair {
        /// The offending component.
        pair: String,
        /// The whole header, echoed back as AWS does.
        header: String,
    },
    /// The `Authorization` header lacks required components.
    MissingAuthorizationComponents {
        /// The scheme word the header started with (AWS echoes it).
        algorithm: String,
        /// `Credential=` is missing or empty.
        credential: bool,
        /// `Signature=` is missing or empty.
        signature: bool,
        /// `SignedHeaders=` is missing.
        signed_headers: bool,
        /// Neither an `X-Amz-Date` nor a `Date` header is present.
        date: bool,
    },
    /// A presigned request lacks required `X-Amz-*` query parameters.
    MissingQueryParameters {
        /// `X-Amz-Algorithm` is missing or empty.
        algorithm: bool,
        /// `X-Amz-Credential` is missing or empty.
        credential: bool,
        /// `X-Amz-Signature` is missing or empty.
        signature: bool,
        /// `X-Amz-SignedHeaders` is missing or empty.
        signed_headers: bool,
        /// `X-Amz-Date` is missing or empty.
        date: bool,
    },
    /// The request date is not `YYYYMMDD'T'HHMMSS'Z'` (nor, for a `Date`
    /// header, an RFC 1123 date).
    InvalidDate {
        /// The value received (lossily decoded).
        value: String,
    },
    /// `host` is not among the signed headers.
    HostNotSigned,
    /// The algorithm is not `AWS4-HMAC-SHA256`.
    UnsupportedAlgorithm {
        /// The algorithm named by the request.
        algorithm: String,
    },
    /// The credential is not `keyid/date/region/service/aws4_request`.
    MalformedCredential {
        /// The credential received.
        credential: String,
    },
    /// The credential scope does not fit the request or this service.
    ScopeMismatch(ScopeMismatch),
    /// `X-Amz-Expires` is not a number in `1..=604800`.
    InvalidExpires {
        /// What is wrong with it.
        problem: ExpiresProblem,
    },
    /// The request was signed more than the allowed skew before `now`.
    SignatureExpired {
        /// Unix seconds of the request date.
        signed_at: i64,
        /// Unix seconds the server checked against.
        now: i64,
        /// The allowed skew, in seconds.
        skew: i64,
    },
    /// The request date is more than the allowed skew after `now`.
    SignatureNotYetCurrent {
        /// Unix seconds of the request date.
        signed_at: i64,
        /// Unix seconds the server checked against.
        now: i64,
        /// The allowed skew, in seconds.
        skew: i64,
    },
    /// A presigned request is past `X-Amz-Date + X-Amz-Expires`; or, for a
    /// SigV2 presigned URL, past its `Expires` (then `signed_at` is that
    /// `Expires` and `expires` is 0, since SigV2 carries no signing time).
    PresignedExpired {
        /// Unix seconds of `X-Amz-Date`.
        signed_at: i64,
        /// `X-Amz-Expires`, in seconds.
        expires: u32,
        /// Unix seconds the server checked against.
        now: i64,
    },
    /// A header listed in `SignedHeaders` is not in the request.
    SignedHeaderMissing {
        /// The header name as listed.
        name: String,
    },
    /// `x-amz-content-sha256` is neither the body's SHA-256 nor
    /// `UNSIGNED-PAYLOAD`.
    ContentSha256Mismatch,
    /// The request was signed over `UNSIGNED-PAYLOAD` where the body must
    /// be signed: a header-signed request to a service other than S3, or a
    /// presigned one that has a body. AWS STS and IAM hash the body
    /// themselves, so such a signature is simply one that does not match,
    /// and they answer `SignatureDoesNotMatch`.
    UnsignedPayloadNotAllowed,
    /// A `%` escape in the query string is not two hex digits.
    MalformedQueryString(QueryEscapeProblem),
    /// The session token is not valid UTF-8 or not well-formed.
    InvalidSecurityToken,
    /// The access key is unknown (for the server to use; never produced
    /// here).
    InvalidClientTokenId,
    /// The signature does not match the one computed from the request.
    SignatureDoesNotMatch,
    /// A header-signed request verified with
    /// [`verify_deferred`](crate::SignedRequest::verify_deferred) has no
    /// `x-amz-content-sha256` header. S3 needs it on every SigV4 request,
    /// since the body is not at hand to hash when the signature is checked,
    /// and answers `InvalidRequest`.
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither 64 hex digits nor one of the
    /// values [`verify_deferred`](crate::SignedRequest::verify_deferred)
    /// accepts. That includes SigV4a's
    /// `STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD[-TRAILER]`, which a SigV4
    /// signature cannot go with; S3 answers a value it does not know with
    /// `InvalidArgument`.
    InvalidContentSha256 {
        /// The value received (lossily decoded).
        value: String,
    },
    /// A SigV2 `Authorization: AWS ...` header is not
    /// `AWS AccessKeyId:Signature`. S3 answers `InvalidArgument`.
    MalformedAuthorizationV2 {
        /// The whole header (lossily decoded).
        header: String,
    },
    /// A SigV2 presigned URL lacks (or has empty) `AWSAccessKeyId`,
    /// `Signature` or `Expires`. S3 answers `AccessDenied`.
    MissingQueryParametersV2,
    /// A SigV2 presigned URL's `Expires` is not a number of seconds since
    /// the epoch. S3 answers `AccessDenied`.
    InvalidExpiresV2 {
        /// The value received (lossily decoded).
        value: String,
    },
    /// A SigV2 header-signed request has neither an `x-amz-date` nor a
    /// `Date` header, or the one that counts is not an HTTP date. S3
    /// answers `AccessDenied`.
    InvalidDateV2 {
        /// The value received (lossily decoded), `None` when absent.
        value: Option<String>,
    },
}

/// The ways a credential scope can fail to fit; any combination can occur.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeMismatch {
    /// The region in the credential, when it is not this service's region.
    pub region: Option<String>,
    /// This service's name, when the credential names another service.
    pub expected_service: Option<String>,
    /// The terminator in the credential, when it is not `aws4_request`.
    pub terminator: Option<String>,
    /// The credential's date and the request date (`YYYYMMDDTHHMMSSZ`),
    /// when the former is not the date part of the latter.
    pub date: Option<(String, String)>,
}

impl ScopeMismatch {
    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.region.is_none()
            && self.expected_service.is_none()
            && self.terminator.is_none()
            && self.date.is_none()
    }
}

/// What is wrong with an `X-Amz-Expires` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiresProblem {
    /// Not a decimal number.
    NotANumber,
    /// Zero or negative.
    NotPositive,
    /// More than a week (604800 seconds).
    TooLarge,
}

/// What is wrong with a `%` escape in the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryEscapeProblem {
    /// `%` followed by something other than two hex digits.
    IllegalHex(String),
    /// `%` too close to the end of the query string.
    IncompleteTrailing,
}

const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The AWS error code of an [`Error`]: the `<Code>` an AWS Query-protocol
/// service answers with.
///
/// Not `#[non_exhaustive]` on purpose: a server maps each code onto its own
/// error type, and a code added here should break that mapping at compile
/// time rather than fall into a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// `MissingAuthenticationToken` (403).
    MissingAuthenticationToken,
    /// `IncompleteSignature` (400).
    IncompleteSignature,
    /// `SignatureDoesNotMatch` (403).
    SignatureDoesNotMatch,
    /// `AuthorizationQueryParametersError` (400).
    AuthorizationQueryParametersError,
    /// `AccessDenied` (403).
    AccessDenied,
    /// `XAmzContentSHA256Mismatch` (400).
    XAmzContentSHA256Mismatch,
    /// `MalformedQueryString` (404).
    MalformedQueryString,
    /// `InvalidClientTokenId` (403).
    InvalidClientTokenId,
    /// `InvalidRequest` (400), S3's answer to a missing
    /// `x-amz-content-sha256`.
    InvalidRequest,
    /// `InvalidArgument` (400), S3's answer to an `x-amz-content-sha256`
    /// it does not accept.
    InvalidArgument,
}

impl Code {
    /// Every code, so that a mapping onto another error type can be checked
    /// whole.
    pub const ALL: [Self; 10] = [
        Self::MissingAuthenticationToken,
        Self::IncompleteSignature,
        Self::SignatureDoesNotMatch,
        Self::AuthorizationQueryParametersError,
        Self::AccessDenied,
        Self::XAmzContentSHA256Mismatch,
        Self::MalformedQueryString,
        Self::InvalidClientTokenId,
        Self::InvalidRequest,
        Self::InvalidArgument,
    ];

    /// The code as AWS spells it, e.g. `SignatureDoesNotMatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            Self::AccessDenied => "AccessDenied",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::MalformedQueryString => "MalformedQueryString",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidArgument => "InvalidArgument",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::IncompleteSignature
            | Self::AuthorizationQueryParametersError
            | Self::XAmzContentSHA256Mismatch
            | Self::InvalidRequest
            | Self::InvalidArgument => 400,
            // The AWS Common Errors pages give 404 for this one.
            Self::MalformedQueryString => 404,
            Self::MissingAuthenticationToken
            | Self::SignatureDoesNotMatch
            | Self::AccessDenied
            | Self::InvalidClientTokenId => 403,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The AWS error code.
    pub fn aws_code(&self) -> Code {
        match self {
            Self::MissingAuthenticationToken => Code::MissingAuthenticationToken,
            Self::MalformedAuthorizationPair { .. }
            | Self::MissingAuthorizationComponents { .. }
            | Self::MissingQueryParameters { .. }
            | Self::InvalidDate { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::MalformedCredential { .. } => Code::IncompleteSignature,
            Self::AmbiguousAuthentication
            | Self::HostNotSigned
            | Self::ScopeMismatch(_)
            | Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::SignedHeaderMissing { .. }
            | Self::UnsignedPayloadNotAllowed
            | Self::SignatureDoesNotMatch => Code::SignatureDoesNotMatch,
            Self::InvalidExpires { .. } => Code::AuthorizationQueryParametersError,
            // STS ignores X-Amz-Expires (presigned STS URLs live 15 minutes);
            // S3 is the AWS service that enforces it, and this is its answer.
            Self::PresignedExpired { .. } => Code::AccessDenied,
            Self::ContentSha256Mismatch => Code::XAmzContentSHA256Mismatch,
            Self::MalformedQueryString(_) => Code::MalformedQueryString,
            Self::InvalidSecurityToken | Self::InvalidClientTokenId => Code::InvalidClientTokenId,
            Self::MissingContentSha256 => Code::InvalidRequest,
            Self::InvalidContentSha256 { .. } | Self::MalformedAuthorizationV2 { .. } => {
                Code::InvalidArgument
            }
            // S3's answers to SigV2 requests it cannot authenticate.
            Self::MissingQueryParametersV2
            | Self::InvalidExpiresV2 { .. }
            | Self::InvalidDateV2 { .. } => Code::AccessDenied,
        }
    }

    /// The AWS error code as it goes on the wire, e.g. `SignatureDoesNotMatch`.
    pub fn code(&self) -> &'static str {
        self.aws_code().as_str()
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        self.aws_code().http_status()
    }

    /// The message AWS puts in the error body.
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Request is missing Authentication Token".to_owned(),
            Self::AmbiguousAuthentication => "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".to_owned(),
            Self::MalformedAuthorizationPair { pair, header } => format!(
                "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            ),
            Self::MissingAuthorizationComponents {
                algorithm,
                credential,
                signature,
                signed_headers,
                date,
            } => {
                let mut m = String::new();
                for (missing, name) in [
                    (*credential, "Credential"),
                    (*signature, "Signature"),
                    (*signed_headers, "SignedHeaders"),
                ] {
                    if missing {
                        m.push_str("Authorization header requires '");
                        m.push_str(name);
                        m.push_str("' parameter. ");
                    }
                }
                if *date {
                    m.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
                }
                m.push_str("Authorization=");
                m.push_str(algorithm);
                m
            }
            Self::MissingQueryParameters {
                algorithm,
                credential,
                signature,
                signed_headers,
                date,
            } => {
                let mut m = String::new();
                for (missing, name) in [
                    (*algorithm, "X-Amz-Algorithm"),
                    (*credential, "X-Amz-Credential"),
                    (*signature, "X-Amz-Signature"),
                    (*signed_headers, "X-Amz-SignedHeaders"),
                    (*date, "X-Amz-Date"),
                ] {
                    if missing {
                        m.push_str("AWS query-string parameters must include '");
                        m.push_str(name);
                        m.push_str("'. ");
                    }
                }
                m.push_str("Re-examine the query-string parameters.");
                m
            }
            Self::InvalidDate { value } => format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ),
            Self::HostNotSigned => {
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned()
            }
            Self::UnsupportedAlgorithm { algorithm } => {
                format!("Unsupported AWS 'algorithm': '{algorithm}'.")
            }
            Self::MalformedCredential { credential } => format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            ),
            Self::ScopeMismatch(s) => {
                let mut m = String::new();
                if s.region.is_some() {
                    // STS does not echo the wrong region (DynamoDB does).
                    m.push_str("Credential should be scoped to a valid region. ");
                }
                if let Some(service) = &s.expected_service {
                    m.push_str("Credential should be scoped to correct service: '");
                    m.push_str(service);
                    m.push_str("'. ");
                }
                if let Some(term) = &s.terminator {
                    m.push_str("Credential should be scoped with a valid terminator: 'aws4_request', not '");
                    m.push_str(term);
                    m.push_str("'. ");
                }
                if let Some((claimed, amz_date)) = &s.date {
                    let day = amz_date.get(..8).unwrap_or(amz_date);
                    m.push_str(&format!(
                        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{claimed}' != '{day}', from '{amz_date}'."
                    ));
                }
                m
            }
            Self::InvalidExpires { problem } => match problem {
                ExpiresProblem::NotANumber => "X-Amz-Expires should be a number".to_owned(),
                ExpiresProblem::NotPositive => "X-Amz-Expires must be non-negative".to_owned(),
                ExpiresProblem::TooLarge => "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds".to_owned(),
            },
            Self::SignatureExpired {
                signed_at,
                now,
                skew,
            } => format!(
                "Signature expired: {} is now earlier than {} ({} - {} min.)",
                format_iso_basic(*signed_at),
                format_iso_basic(now.saturating_sub(*skew)),
                format_iso_basic(*now),
                skew / 60
            ),
            Self::SignatureNotYetCurrent {
                signed_at,
                now,
                skew,
            } => format!(
                "Signature not yet current: {} is still later than {} ({} + {} min.)",
                format_iso_basic(*signed_at),
                format_iso_basic(now.saturating_add(*skew)),
                format_iso_basic(*now),
                skew / 60
            ),
            Self::PresignedExpired { .. } => "Request has expired".to_owned(),
            Self::ContentSha256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
            Self::MalformedQueryString(QueryEscapeProblem::IllegalHex(s)) => {
                format!("Illegal hex character in escape % pattern: %{s}")
            }
            Self::MalformedQueryString(QueryEscapeProblem::IncompleteTrailing) => {
                "Incomplete trailing escape % sequence".to_owned()
            }
            Self::InvalidSecurityToken | Self::InvalidClientTokenId => {
                "The security token included in the request is invalid.".to_owned()
            }
            Self::MissingContentSha256 => {
                "Missing required header for this request: x-amz-content-sha256".to_owned()
            }
            Self::InvalidContentSha256 { .. } => "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.".to_owned(),
            Self::MalformedAuthorizationV2 { .. } => {
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature".to_owned()
            }
            Self::MissingQueryParametersV2 => "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters".to_owned(),
            Self::InvalidExpiresV2 { value } => {
                format!("Invalid date (should be seconds since epoch): {value}")
            }
            Self::InvalidDateV2 { .. } => {
                "AWS authentication requires a valid Date or x-amz-date header".to_owned()
            }
            // A missing signed header makes the canonical request unbuildable;
            // AWS reports that as an ordinary mismatch.
            Self::SignedHeaderMissing { .. }
            | Self::UnsignedPayloadNotAllowed
            | Self::SignatureDoesNotMatch => MSG_SIGNATURE_MISMATCH.to_owned(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

/// Why a request body was refused after its headers were accepted: an
/// aws-chunked body that does not decode or whose chunk signatures do not
/// verify, or a body that does not match the hash or checksum its headers
/// declared.
///
/// [`BodyError::s3_code`], [`BodyError::message`] and
/// [`BodyError::http_status`] give what S3 answers; `Display` prints the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// A chunk header, or the line break after a chunk's data, is not what
    /// aws-chunked prescribes.
    MalformedChunk {
        /// What is wrong, for logs.
        problem: &'static str,
    },
    /// A signed chunk is larger than the decoder buffers (each one is held
    /// until its signature is checked).
    ChunkTooLarge {
        /// The size the chunk header announced.
        size: u64,
        /// The largest size accepted.
        max: u64,
    },
    /// A chunk's signature does not match its data and the signature
    /// before it.
    ChunkSignatureMismatch,
    /// The trailer's `x-amz-trailer-signature` is missing or does not
    /// match the trailing headers.
    TrailerSignatureMismatch,
    /// The body ended before the final chunk (or the trailer) did.
    Truncated,
    /// Bytes follow the end of the aws-chunked body.
    DataAfterEnd,
    /// The decoded payload is not `x-amz-decoded-content-length` long.
    DecodedLengthMismatch {
        /// The length the header declared.
        declared: u64,
        /// How many bytes the body holds (or had reached when it went past
        /// the declared length).
        received: u64,
    },
    /// `x-amz-decoded-content-length` is not a decimal number.
    InvalidDecodedContentLength,
    /// `x-amz-trailer` names something other than one supported checksum
    /// header.
    UnsupportedTrailer {
        /// The header's value (lossily decoded).
        value: String,
    },
    /// The trailer section is malformed, too large, repeats or adds a
    /// header `x-amz-trailer` did not announce, or lacks the one it did.
    MalformedTrailer {
        /// What is wrong, for logs.
        problem: &'static str,
    },
    /// More than one `x-amz-checksum-*` header.
    MultipleChecksums,
    /// A checksum value is not the base64 of a digest of the right size.
    InvalidChecksum {
        /// The checksum header, e.g. `x-amz-checksum-crc32`.
        header: &'static str,
    },
    /// The body does not have the checksum its header or trailer declared.
    ChecksumMismatch {
        /// The algorithm's name as S3 words it, e.g. `CRC32`.
        algorithm: &'static str,
    },
    /// The body's SHA-256 is not the `x-amz-content-sha256` it was signed
    /// with.
    ContentSha256Mismatch,
}

/// The S3 error code of a [`BodyError`].
///
/// Not `#[non_exhaustive]`, like [`Code`]: a server maps each code onto its
/// own error type, and a new one should break that mapping at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyCode {
    /// `SignatureDoesNotMatch` (403).
    SignatureDoesNotMatch,
    /// `IncompleteBody` (400).
    IncompleteBody,
    /// `InvalidRequest` (400).
    InvalidRequest,
    /// `MalformedTrailerError` (400).
    MalformedTrailerError,
    /// `BadDigest` (400).
    BadDigest,
    /// `XAmzContentSHA256Mismatch` (400).
    XAmzContentSHA256Mismatch,
}

impl BodyCode {
    /// Every code, so that a mapping onto another error type can be checked
    /// whole.
    pub const ALL: [Self; 6] = [
        Self::SignatureDoesNotMatch,
        Self::IncompleteBody,
        Self::InvalidRequest,
        Self::MalformedTrailerError,
        Self::BadDigest,
        Self::XAmzContentSHA256Mismatch,
    ];

    /// The code as S3 spells it, e.g. `BadDigest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::IncompleteBody => "IncompleteBody",
            Self::InvalidRequest => "InvalidRequest",
            Self::MalformedTrailerError => "MalformedTrailerError",
            Self::BadDigest => "BadDigest",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::SignatureDoesNotMatch => 403,
            Self::IncompleteBody
            | Self::InvalidRequest
            | Self::MalformedTrailerError
            | Self::BadDigest
            | Self::XAmzContentSHA256Mismatch => 400,
        }
    }
}

impl fmt::Display for BodyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BodyError {
    /// The S3 error code.
    pub fn s3_code(&self) -> BodyCode {
        match self {
            Self::ChunkSignatureMismatch | Self::TrailerSignatureMismatch => {
                BodyCode::SignatureDoesNotMatch
            }
            Self::Truncated | Self::DecodedLengthMismatch { .. } => BodyCode::IncompleteBody,
            // S3 documents no code of its own for broken aws-chunked framing;
            // this is its generic answer to a request it cannot take.
            Self::MalformedChunk { .. }
            | Self::ChunkTooLarge { .. }
            | Self::DataAfterEnd
            | Self::InvalidDecodedContentLength
            | Self::UnsupportedTrailer { .. }
            | Self::MultipleChecksums
            | Self::InvalidChecksum { .. } => BodyCode::InvalidRequest,
            Self::MalformedTrailer { .. } => BodyCode::MalformedTrailerError,
            Self::ChecksumMismatch { .. } => BodyCode::BadDigest,
            Self::ContentSha256Mismatch => BodyCode::XAmzContentSHA256Mismatch,
        }
    }

    /// The S3 error code as it goes on the wire, e.g. `BadDigest`.
    pub fn code(&self) -> &'static str {
        self.s3_code().as_str()
    }

    /// The HTTP status S3 answers with.
    pub fn http_status(&self) -> u16 {
        self.s3_code().http_status()
    }

    /// The message S3 puts in the error body (or, where S3's own wording is
    /// not known, a plain description).
    pub fn message(&self) -> String {
        match self {
            Self::MalformedChunk { problem } => {
                format!("The aws-chunked request body is malformed: {problem}.")
            }
            Self::ChunkTooLarge { size, max } => format!(
                "A chunk of {size} bytes exceeds the largest signed chunk accepted ({max} bytes)."
            ),
            Self::ChunkSignatureMismatch | Self::TrailerSignatureMismatch => {
                MSG_SIGNATURE_MISMATCH.to_owned()
            }
            Self::Truncated | Self::DecodedLengthMismatch { .. } => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
                    .to_owned()
            }
            Self::DataAfterEnd => "The aws-chunked request body has data after its end.".to_owned(),
            Self::InvalidDecodedContentLength => {
                "Value for x-amz-decoded-content-length header is invalid.".to_owned()
            }
            Self::UnsupportedTrailer { .. } => {
                "The value specified in the x-amz-trailer header is not supported".to_owned()
            }
            Self::MalformedTrailer { .. } => "The request contained trailing data that was not well-formed or did not conform to our published schema.".to_owned(),
            Self::MultipleChecksums => {
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .to_owned()
            }
            Self::InvalidChecksum { header } => format!("Value for {header} header is invalid."),
            Self::ChecksumMismatch { algorithm } => {
                format!("The {algorithm} you specified did not match the calculated checksum.")
            }
            Self::ContentSha256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for BodyError {}
