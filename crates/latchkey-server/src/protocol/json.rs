//! awsJson1_1 responses and errors.

use http::StatusCode;

use crate::ApiError;

/// The status and `{"__type": "Code", "message": "…"}` body of an error, as
/// awsJson services (Organizations, CloudTrail) write it, under the name and
/// status they give the code (see [`ErrorCode::json_name`](crate::ErrorCode::json_name)).
pub fn error(e: &ApiError) -> (StatusCode, String) {
    let code = e.kind();
    (code.json_status(), serde_json::json!({ "__type": code.json_name(), "message": e.message() }).to_string())
}
