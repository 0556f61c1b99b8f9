//! S3's REST-XML protocol, where latchkey answers itself: the `<Error>`
//! document (S3's shape: no namespace, no `<Type>`, the resource and the
//! request id inside), and the few documents the front end writes.
//! Answers from the upstream store pass through untouched.

use http::{HeaderValue, StatusCode, header};

use crate::ApiError;

/// The unescaped text of the first `<tag>…</tag>` in `text`: the few
/// fields latchkey reads from S3 documents (an upstream error's code, a
/// ListAllMyBucketsResult's names, a CreateBucketConfiguration's region,
/// DeleteObjects' keys) need no more than this.
pub fn element(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text.get(start..)?.find(&format!("</{tag}>"))? + start;
    text.get(start..end).map(|s| quick_xml::escape::unescape(s).map_or_else(|_| s.to_owned(), |c| c.into_owned()))
}

/// S3's error document for `e`, about `resource` (the request's path).
pub fn error_body(e: &ApiError, resource: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
        quick_xml::escape::escape(e.code()),
        quick_xml::escape::escape(e.message()),
        quick_xml::escape::escape(resource),
    )
}

/// The whole error response: S3's status for the code, its XML (no body
/// for HEAD, as S3 answers), and the request id headers.
pub fn error_response(e: &ApiError, resource: &str, request_id: &str, head: bool) -> http::Response<axum::body::Body> {
    let body = if head { String::new() } else { error_body(e, resource, request_id) };
    let mut response = http::Response::new(axum::body::Body::from(body));
    *response.status_mut() = e.kind().s3_status();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    request_id_headers(h, request_id);
    response
}

/// `x-amz-request-id` and `x-amz-id-2`, as S3 sends on every response.
pub fn request_id_headers(h: &mut http::HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
}

/// A success latchkey answers itself: `status` with `body` of `content_type`.
pub fn local_response(status: StatusCode, content_type: Option<&'static str>, body: String, request_id: &str) -> http::Response<axum::body::Body> {
    let mut response = http::Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    request_id_headers(h, request_id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn error_document_is_s3s() {
        let e = ApiError::of(ErrorCode::NoSuchBucket, "The specified bucket does not exist");
        let body = error_body(&e, "/b&c", "REQ1");
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><Resource>/b&amp;c</Resource><RequestId>REQ1</RequestId></Error>"
        );
        let r = error_response(&ApiError::of(ErrorCode::ExpiredToken, "x"), "/", "R", true);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
