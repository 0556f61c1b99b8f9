//! The one place internal failures become AWS wire errors.
//!
//! Every code latchkey answers with is an [`ErrorCode`] variant, and only
//! the variant knows its wire name, HTTP status and fault, and how awsJson
//! services name it. Domain errors ([`AuthnError`](crate::authn::AuthnError),
//! SigV4's, the policy parser's, the store's) become an [`ApiError`] here,
//! by matching their variants; nothing elsewhere builds a code from a string
//! or looks at one to decide what to do.

use http::StatusCode;

use crate::authn::AuthnError;

/// Whether AWS blames the caller or itself (`<Type>` in awsQuery errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was wrong.
    Sender,
    /// The service failed.
    Receiver,
}

/// Declares [`ErrorCode`] from one table, so that a code, its wire name
/// (the variant's own name) and its status are written once, side by side.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $code:ident = $status:ident, )*) => {
        /// Every error code latchkey answers with. The variant's name is the
        /// code on the wire: awsQuery's `<Code>`, and awsJson's `__type`
        /// unless [`json_name`](Self::json_name) says otherwise.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $code, )*
        }

        impl ErrorCode {
            #[cfg(test)]
            const ALL: &[Self] = &[$(Self::$code,)*];

            /// The code as awsQuery services (IAM, STS) put it on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$code => stringify!($code),)*
                }
            }

            /// The HTTP status awsQuery services answer this code with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$code => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    // Authentication, as SigV4 and the key lookup refuse a request.
    /// The request carries no signature and the action needs one.
    MissingAuthenticationToken = FORBIDDEN,
    /// The `Authorization` header or presigned query lacks a part.
    IncompleteSignature = BAD_REQUEST,
    /// The signature, its scope or its date is wrong.
    SignatureDoesNotMatch = FORBIDDEN,
    /// `X-Amz-Expires` is not a valid number of seconds.
    AuthorizationQueryParametersError = BAD_REQUEST,
    /// `x-amz-content-sha256` does not match the body.
    XAmzContentSHA256Mismatch = BAD_REQUEST,
    /// A `%` escape in the query string is malformed.
    MalformedQueryString = NOT_FOUND,
    /// The access key or session token is not one latchkey issued (or is
    /// inactive, or not valid for this service).
    InvalidClientTokenId = FORBIDDEN,
    /// The session token has expired.
    ExpiredToken = FORBIDDEN,
    /// The caller may not do this (also a presigned request past its expiry).
    AccessDenied = FORBIDDEN,

    // The request as a whole.
    /// The body is larger than the configured limit.
    RequestEntityTooLarge = PAYLOAD_TOO_LARGE,
    /// The credential scope names a service latchkey does not serve.
    UnknownService = BAD_REQUEST,
    /// An awsQuery action this service does not have.
    InvalidAction = BAD_REQUEST,
    /// A required awsQuery parameter is absent.
    MissingParameter = BAD_REQUEST,
    /// An awsJson operation this service does not have.
    UnknownOperationException = BAD_REQUEST,
    /// An awsJson body or member of the wrong shape.
    SerializationException = BAD_REQUEST,

    // Failures of latchkey itself.
    /// An unexpected failure; the detail is logged, not sent.
    InternalFailure = INTERNAL_SERVER_ERROR,
    /// The store cannot be reached; worth retrying.
    ServiceUnavailable = SERVICE_UNAVAILABLE,

    // IAM and STS.
    /// A parameter breaks the API model's constraints.
    ValidationError = BAD_REQUEST,
    /// A value IAM refuses beyond the model's constraints.
    InvalidInput = BAD_REQUEST,
    /// A value STS refuses beyond the model's constraints.
    InvalidParameterValue = BAD_REQUEST,
    /// The named entity does not exist.
    NoSuchEntity = NOT_FOUND,
    /// An entity of that name exists already.
    EntityAlreadyExists = CONFLICT,
    /// A quota would be exceeded.
    LimitExceeded = CONFLICT,
    /// The entity is still in use and cannot be deleted.
    DeleteConflict = CONFLICT,
    /// A policy document IAM would refuse.
    MalformedPolicyDocument = BAD_REQUEST,
    /// The session policy, policy ARNs and tags exceed what a token may pack.
    PackedPolicyTooLarge = BAD_REQUEST,
    /// MFA codes that do not match the device.
    InvalidAuthenticationCode = FORBIDDEN,
    /// An encoded authorization message this caller cannot open.
    InvalidAuthorizationMessageException = BAD_REQUEST,

    // Organizations (awsJson).
    /// A parameter Organizations refuses.
    InvalidInputException = BAD_REQUEST,
    /// No CreateAccount request with that id.
    CreateAccountStatusNotFoundException = BAD_REQUEST,
    /// No account with that id in the organization.
    AccountNotFoundException = BAD_REQUEST,
    /// A policy type latchkey does not support.
    PolicyTypeNotAvailableForOrganizationException = BAD_REQUEST,
    /// An SCP Organizations would refuse.
    MalformedPolicyDocumentException = BAD_REQUEST,
    /// A policy of that name exists already.
    DuplicatePolicyException = BAD_REQUEST,
    /// No policy with that id.
    PolicyNotFoundException = BAD_REQUEST,
    /// No root, OU or account with that id.
    TargetNotFoundException = BAD_REQUEST,
    /// The change would break a rule of the organization.
    ConstraintViolationException = BAD_REQUEST,
    /// The policy is attached to the target already.
    DuplicatePolicyAttachmentException = BAD_REQUEST,
    /// The policy is not attached to the target.
    PolicyNotAttachedException = BAD_REQUEST,

    // S3 (its own XML error shape; see `protocol::s3`).
    /// The access key is not one latchkey issued (S3's word for it).
    InvalidAccessKeyId = FORBIDDEN,
    /// A session token that does not open (S3's word for it).
    InvalidToken = BAD_REQUEST,
    /// A header-signed request outside the allowed clock skew.
    RequestTimeTooSkewed = FORBIDDEN,
    /// The Authorization header lacks a part or names a wrong scope.
    AuthorizationHeaderMalformed = BAD_REQUEST,
    /// A request S3 refuses as a whole (a signing method it does not take).
    InvalidRequest = BAD_REQUEST,
    /// An argument S3 refuses.
    InvalidArgument = BAD_REQUEST,
    /// The path is not a valid URI once decoded.
    InvalidURI = BAD_REQUEST,
    /// A key longer than 1024 bytes.
    KeyTooLongError = BAD_REQUEST,
    /// A bucket name S3's rules refuse.
    InvalidBucketName = BAD_REQUEST,
    /// The bucket does not exist.
    NoSuchBucket = NOT_FOUND,
    /// The bucket has no bucket policy.
    NoSuchBucketPolicy = NOT_FOUND,
    /// Another account owns a bucket of that name.
    BucketAlreadyExists = CONFLICT,
    /// The caller's account owns that bucket already.
    BucketAlreadyOwnedByYou = CONFLICT,
    /// A bucket policy S3 would refuse.
    MalformedPolicy = BAD_REQUEST,
    /// An XML body that does not parse or validate.
    MalformedXML = BAD_REQUEST,
    /// A trailing or header checksum that does not match the body.
    BadDigest = BAD_REQUEST,
    /// The body ended before its declared length or final chunk.
    IncompleteBody = BAD_REQUEST,
    /// An aws-chunked trailer that does not parse.
    MalformedTrailerError = BAD_REQUEST,
    /// A body larger than the operation takes.
    EntityTooLarge = BAD_REQUEST,
    /// A body sent without a length.
    MissingContentLength = LENGTH_REQUIRED,
    /// The method is not allowed on this resource.
    MethodNotAllowed = METHOD_NOT_ALLOWED,
    /// A feature latchkey's S3 front end does not provide (or not enabled).
    NotImplemented = NOT_IMPLEMENTED,
    /// The upstream store failed or could not be reached.
    InternalError = INTERNAL_SERVER_ERROR,

    // CloudTrail (awsJson).
    /// LookupAttributes that CloudTrail refuses.
    InvalidLookupAttributesException = BAD_REQUEST,
    /// A member outside its enumeration or length.
    ValidationException = BAD_REQUEST,
    /// A start time after the end time.
    InvalidTimeRangeException = BAD_REQUEST,
    /// MaxResults outside 1..=50.
    InvalidMaxResultsException = BAD_REQUEST,
    /// An event category CloudTrail does not have.
    InvalidEventCategoryException = BAD_REQUEST,
    /// A NextToken this query did not hand out.
    InvalidNextTokenException = BAD_REQUEST,
}

impl ErrorCode {
    /// Sender for the caller's mistakes, Receiver for the service's failures.
    pub fn fault(self) -> Fault {
        if self.status().is_server_error() { Fault::Receiver } else { Fault::Sender }
    }

    /// The code as awsJson services (Organizations, CloudTrail) name it.
    /// They name the authentication failures their own way, where awsQuery
    /// services say `InvalidClientTokenId` / `SignatureDoesNotMatch` /
    /// `ExpiredToken` (seen on the wire from CloudTrail, CloudWatch Logs and
    /// other awsJson services), and a refusal `AccessDeniedException`.
    pub fn json_name(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDeniedException",
            Self::InvalidClientTokenId => "UnrecognizedClientException",
            Self::SignatureDoesNotMatch => "InvalidSignatureException",
            Self::ExpiredToken => "ExpiredTokenException",
            other => other.as_str(),
        }
    }

    /// The HTTP status awsJson services answer this code with: 400 for the
    /// authentication failures awsQuery services answer with 403.
    pub fn json_status(self) -> StatusCode {
        match self {
            Self::InvalidClientTokenId | Self::SignatureDoesNotMatch | Self::ExpiredToken => StatusCode::BAD_REQUEST,
            other => other.status(),
        }
    }
}

impl ErrorCode {
    /// The HTTP status S3 answers this code with: S3 answers an expired
    /// session token with 400 where STS and IAM answer 403.
    pub fn s3_status(self) -> StatusCode {
        match self {
            Self::ExpiredToken => StatusCode::BAD_REQUEST,
            other => other.status(),
        }
    }
}

impl From<latchkey_sigv4::Code> for ErrorCode {
    fn from(code: latchkey_sigv4::Code) -> Self {
        use latchkey_sigv4::Code as C;
        match code {
            C::MissingAuthenticationToken => Self::MissingAuthenticationToken,
            C::IncompleteSignature => Self::IncompleteSignature,
            C::SignatureDoesNotMatch => Self::SignatureDoesNotMatch,
            C::AuthorizationQueryParametersError => Self::AuthorizationQueryParametersError,
            C::AccessDenied => Self::AccessDenied,
            C::XAmzContentSHA256Mismatch => Self::XAmzContentSHA256Mismatch,
            C::MalformedQueryString => Self::MalformedQueryString,
            C::InvalidClientTokenId => Self::InvalidClientTokenId,
            C::InvalidRequest => Self::InvalidRequest,
            C::InvalidArgument => Self::InvalidArgument,
        }
    }
}

impl From<latchkey_policy::ErrorKind> for ErrorCode {
    fn from(kind: latchkey_policy::ErrorKind) -> Self {
        use latchkey_policy::ErrorKind as K;
        match kind {
            K::MalformedPolicyDocument => Self::MalformedPolicyDocument,
            K::LimitExceeded => Self::LimitExceeded,
            K::PackedPolicyTooLarge => Self::PackedPolicyTooLarge,
        }
    }
}

/// An error as AWS puts it on the wire: a code (which carries the status
/// and fault) and a message.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    /// `code` with `message`; the status and fault are the code's.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The code, for deciding what to do about the error.
    pub fn kind(&self) -> ErrorCode {
        self.code
    }

    /// The code as awsQuery puts it on the wire; static, so that logging or
    /// counting an error does not allocate.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The HTTP status (awsQuery).
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Sender or Receiver.
    pub fn fault(&self) -> Fault {
        self.code.fault()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `AccessDenied` (403).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::AccessDenied, message)
    }

    /// `ValidationError` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::ValidationError, message)
    }

    /// `InvalidInput` (400), IAM's code for values it refuses beyond the model's constraints.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::InvalidInput, message)
    }

    /// `MissingParameter` (400).
    pub fn missing_parameter(name: &str) -> Self {
        Self::of(ErrorCode::MissingParameter, format!("The request must contain the parameter {name}"))
    }

    /// `InvalidAction` (400) for an action this service does not have.
    pub fn invalid_action(action: &str, version: &str) -> Self {
        Self::of(ErrorCode::InvalidAction, format!("Could not find operation {action} for version {version}"))
    }

    /// `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::NoSuchEntity, message)
    }

    /// `EntityAlreadyExists` (409).
    pub fn entity_already_exists(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::EntityAlreadyExists, message)
    }

    /// `LimitExceeded` (409).
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::LimitExceeded, message)
    }

    /// `DeleteConflict` (409).
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::DeleteConflict, message)
    }

    /// `InvalidClientTokenId` (403): unknown, inactive or malformed key.
    pub fn invalid_client_token_id() -> Self {
        Self::of(ErrorCode::InvalidClientTokenId, "The security token included in the request is invalid.")
    }

    /// `ExpiredToken` (403), as STS and IAM answer a session past its expiry.
    pub fn expired_token() -> Self {
        Self::of(ErrorCode::ExpiredToken, "The security token included in the request is expired")
    }

    /// `ServiceUnavailable` (503).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::ServiceUnavailable, message)
    }

    /// `InternalFailure` (500). The detail goes to the log, never to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal failure");
        Self::of(
            ErrorCode::InternalFailure,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    /// A failed write. A constraint the snapshot did not foresee (another
    /// node's concurrent write) surfaces as the conflict AWS would report;
    /// anything else as any store failure does.
    pub fn from_write(e: latchkey_store::StoreError) -> Self {
        use latchkey_store::StoreError as E;
        match e {
            E::Conflict(_) => Self::entity_already_exists("The entity already exists."),
            E::Constraint(_) => Self::delete_conflict("Cannot delete entity, it is still in use."),
            other => other.into(),
        }
    }
}

impl From<latchkey_sigv4::Error> for ApiError {
    fn from(e: latchkey_sigv4::Error) -> Self {
        Self::of(e.aws_code().into(), e.message())
    }
}

impl From<AuthnError> for ApiError {
    fn from(e: AuthnError) -> Self {
        match e {
            AuthnError::Signature(e) => e.into(),
            AuthnError::InvalidKey | AuthnError::InvalidToken => Self::invalid_client_token_id(),
            AuthnError::ExpiredToken => Self::expired_token(),
        }
    }
}

impl ApiError {
    /// A refused S3 authentication, in S3's words (S3 names the failures
    /// differently from STS and IAM: `InvalidAccessKeyId`, `InvalidToken`,
    /// `RequestTimeTooSkewed`, and "Request has expired" as AccessDenied).
    pub fn s3_authn(e: AuthnError) -> Self {
        use latchkey_sigv4::Error as S;
        match e {
            AuthnError::InvalidKey => {
                Self::of(ErrorCode::InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
            }
            AuthnError::InvalidToken => Self::of(ErrorCode::InvalidToken, "The provided token is malformed or otherwise invalid."),
            AuthnError::ExpiredToken => Self::of(ErrorCode::ExpiredToken, "The provided token has expired."),
            AuthnError::Signature(e) => match e {
                S::SignatureExpired { .. } | S::SignatureNotYetCurrent { .. } => Self::of(
                    ErrorCode::RequestTimeTooSkewed,
                    "The difference between the request time and the current time is too large.",
                ),
                S::PresignedExpired { .. } => Self::access_denied("Request has expired"),
                S::MissingAuthenticationToken => Self::access_denied("Access Denied"),
                S::SignatureDoesNotMatch | S::ScopeMismatch(_) | S::SignedHeaderMissing { .. } | S::HostNotSigned => Self::of(
                    ErrorCode::SignatureDoesNotMatch,
                    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                ),
                S::ContentSha256Mismatch => Self::of(
                    ErrorCode::XAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ),
                other => match other.aws_code() {
                    latchkey_sigv4::Code::IncompleteSignature => {
                        Self::of(ErrorCode::AuthorizationHeaderMalformed, other.message())
                    }
                    code => Self::of(code.into(), other.message()),
                },
            },
        }
    }
}

impl From<&latchkey_policy::PolicyError> for ApiError {
    fn from(e: &latchkey_policy::PolicyError) -> Self {
        Self::of(e.kind().into(), e.aws_message())
    }
}

impl From<crate::state::principals::InvalidPrincipal> for ApiError {
    fn from(e: crate::state::principals::InvalidPrincipal) -> Self {
        Self::of(ErrorCode::MalformedPolicyDocument, e.message())
    }
}

impl From<latchkey_store::StoreError> for ApiError {
    fn from(e: latchkey_store::StoreError) -> Self {
        use latchkey_store::StoreError as E;
        match e {
            E::Backend(_) => {
                tracing::error!(error = %e, "store unavailable");
                Self::service_unavailable("The service is unavailable. Please try again shortly.")
            }
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn wire_names_are_unique() {
        let query: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(query.len(), ErrorCode::ALL.len());
        let json: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.json_name()).collect();
        assert_eq!(json.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn wire_name_is_the_variant_name() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str(), format!("{code:?}"));
        }
    }

    #[test]
    fn fault_follows_status() {
        for code in ErrorCode::ALL {
            let receiver = matches!(
                code,
                ErrorCode::InternalFailure | ErrorCode::ServiceUnavailable | ErrorCode::InternalError | ErrorCode::NotImplemented
            );
            assert_eq!(code.fault() == Fault::Receiver, receiver, "{code:?}");
        }
    }

    #[test]
    fn json_names_the_authentication_failures_its_own_way() {
        let cases = [
            (ErrorCode::AccessDenied, "AccessDeniedException", StatusCode::FORBIDDEN),
            (ErrorCode::InvalidClientTokenId, "UnrecognizedClientException", StatusCode::BAD_REQUEST),
            (ErrorCode::SignatureDoesNotMatch, "InvalidSignatureException", StatusCode::BAD_REQUEST),
            (ErrorCode::ExpiredToken, "ExpiredTokenException", StatusCode::BAD_REQUEST),
        ];
        for (code, name, status) in cases {
            assert_eq!((code.json_name(), code.json_status()), (name, status), "{code:?}");
        }
        for code in ErrorCode::ALL.iter().filter(|c| !cases.iter().any(|(k, ..)| k == *c)) {
            assert_eq!((code.json_name(), code.json_status()), (code.as_str(), code.status()), "{code:?}");
        }
    }

    #[test]
    fn sigv4_codes_keep_their_name_and_status() {
        for code in latchkey_sigv4::Code::ALL {
            let ours = ErrorCode::from(code);
            assert_eq!(ours.as_str(), code.as_str());
            assert_eq!(ours.status().as_u16(), code.http_status(), "{code:?}");
        }
    }

    #[test]
    fn authentication_failures_answer_as_aws_does() {
        let answer = |e: AuthnError| {
            let e = ApiError::from(e);
            (e.kind(), e.message().to_owned())
        };
        let invalid = (ErrorCode::InvalidClientTokenId, "The security token included in the request is invalid.".to_owned());
        assert_eq!(answer(AuthnError::InvalidKey), invalid);
        assert_eq!(answer(AuthnError::InvalidToken), invalid);
        assert_eq!(
            answer(AuthnError::ExpiredToken),
            (ErrorCode::ExpiredToken, "The security token included in the request is expired".to_owned())
        );
        assert_eq!(answer(AuthnError::Signature(latchkey_sigv4::Error::HostNotSigned)).0, ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn policy_kinds_keep_their_name_and_status() {
        use latchkey_policy::{ErrorKind as K, Limit};
        let errors = [
            latchkey_policy::parse("not a policy", latchkey_policy::PolicyKind::Identity).unwrap_err(),
            Limit::ManagedPolicy.check(10_000).unwrap_err(),
            Limit::SessionPolicy.check(10_000).unwrap_err(),
        ];
        let kinds: Vec<K> = errors.iter().map(latchkey_policy::PolicyError::kind).collect();
        assert_eq!(kinds, [K::MalformedPolicyDocument, K::LimitExceeded, K::PackedPolicyTooLarge]);
        for e in &errors {
            let ours = ApiError::from(e);
            assert_eq!((ours.code(), ours.status().as_u16(), ours.message()), (e.aws_code(), e.http_status(), e.aws_message()));
        }
    }

    #[test]
    fn store_conflicts_on_write_are_typed() {
        use latchkey_store::StoreError as E;
        assert_eq!(ApiError::from_write(E::Conflict("x".into())).kind(), ErrorCode::EntityAlreadyExists);
        assert_eq!(ApiError::from_write(E::Constraint("x".into())).kind(), ErrorCode::DeleteConflict);
        assert_eq!(ApiError::from_write(E::Backend("x".into())).kind(), ErrorCode::ServiceUnavailable);
    }
}
