//! awsJson1_1 responses and errors.

use crate::ApiError;

/// `{"__type": "Code", "message": "…"}`, as awsJson services write errors.
/// awsJson services name a refusal `AccessDeniedException` where awsQuery
/// services say `AccessDenied`.
pub fn error(e: &ApiError) -> String {
    let code = match e.code() {
        "AccessDenied" => "AccessDeniedException",
        other => other,
    };
    serde_json::json!({ "__type": code, "message": e.message() }).to_string()
}
