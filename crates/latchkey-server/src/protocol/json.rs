//! awsJson1_1 responses and errors.

use crate::ApiError;

/// `{"__type": "Code", "message": "…"}`, as awsJson services write errors.
pub fn error(e: &ApiError) -> String {
    serde_json::json!({ "__type": e.code(), "message": e.message() }).to_string()
}
