//! The one place internal failures become AWS wire errors.

use std::borrow::Cow;

use http::StatusCode;

/// Whether AWS blames the caller or itself (`<Type>` in awsQuery errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was wrong.
    Sender,
    /// The service failed.
    Receiver,
}

/// An error as AWS puts it on the wire: code, HTTP status, fault, message.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: Cow<'static, str>,
    status: StatusCode,
    fault: Fault,
    message: String,
}

impl ApiError {
    /// An error with an explicit code and status.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let fault = if status.is_server_error() { Fault::Receiver } else { Fault::Sender };
        Self { code: code.into(), status, fault, message: message.into() }
    }

    /// The AWS error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The code as a metrics label: borrowed for the codes latchkey names
    /// statically, so counting an error does not allocate.
    pub fn code_label(&self) -> Cow<'static, str> {
        self.code.clone()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sender or Receiver.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `AccessDenied` (403).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// `ValidationError` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
    }

    /// `InvalidInput` (400), IAM's code for values it refuses beyond the model's constraints.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    /// `MissingParameter` (400).
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `InvalidAction` (400) for an action this service does not have.
    pub fn invalid_action(action: &str, version: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }

    /// `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NoSuchEntity", message)
    }

    /// `EntityAlreadyExists` (409).
    pub fn entity_already_exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "EntityAlreadyExists", message)
    }

    /// `LimitExceeded` (409).
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "LimitExceeded", message)
    }

    /// `DeleteConflict` (409).
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "DeleteConflict", message)
    }

    /// `InvalidClientTokenId` (403): unknown, inactive or malformed key.
    pub fn invalid_client_token_id() -> Self {
        Self::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", "The security token included in the request is invalid.")
    }

    /// `ServiceUnavailable` (503).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message)
    }

    /// `InternalFailure` (500). The detail goes to the log, never to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl From<latchkey_sigv4::Error> for ApiError {
    fn from(e: latchkey_sigv4::Error) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        Self::new(status, e.code(), e.message())
    }
}

impl From<&latchkey_policy::PolicyError> for ApiError {
    fn from(e: &latchkey_policy::PolicyError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, e.aws_code(), e.aws_message().to_owned())
    }
}

impl From<crate::state::principals::InvalidPrincipal> for ApiError {
    fn from(e: crate::state::principals::InvalidPrincipal) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedPolicyDocument", e.message())
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
