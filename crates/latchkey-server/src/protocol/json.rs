//! awsJson1_1 responses and errors.

use http::StatusCode;

use crate::ApiError;

/// The status and `{"__type": "Code", "message": "…"}` body of an error, as
/// awsJson services (Organizations, CloudTrail) write it. They name the
/// authentication failures their own way, with 400, where awsQuery services
/// say `InvalidClientTokenId` / `SignatureDoesNotMatch` / `ExpiredToken`
/// with 403 (seen on the wire from CloudTrail, CloudWatch Logs and other
/// awsJson services), and a refusal `AccessDeniedException`.
pub fn error(e: &ApiError) -> (StatusCode, String) {
    let (code, status) = match e.code() {
        "AccessDenied" => ("AccessDeniedException", e.status()),
        "InvalidClientTokenId" => ("UnrecognizedClientException", StatusCode::BAD_REQUEST),
        "SignatureDoesNotMatch" => ("InvalidSignatureException", StatusCode::BAD_REQUEST),
        "ExpiredToken" => ("ExpiredTokenException", StatusCode::BAD_REQUEST),
        other => (other, e.status()),
    };
    (status, serde_json::json!({ "__type": code, "message": e.message() }).to_string())
}
