//! What an S3 request asks for: the bucket and key it addresses (path
//! style, or virtual-hosted under `--s3-domain`), the operation its method,
//! subresources and headers name, and the IAM actions and resources that
//! operation needs (the Amazon S3 User Guide's "Policy actions for Amazon
//! S3" and "Required permissions for Amazon S3 API operations"). Pure: no
//! I/O, so every rule here is tested on its own.

use std::borrow::Cow;

use http::Method;

use crate::{ApiError, ErrorCode};

/// The longest key S3 accepts, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// Where the request's bucket and key came from, and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket, if the request names one.
    pub bucket: Option<String>,
    /// The object key (decoded), if the request names one.
    pub key: Option<String>,
    /// Whether the bucket came from the host (virtual-hosted style).
    pub hosted: bool,
}

impl Target {
    /// `arn:aws:s3:::BUCKET`.
    pub fn bucket_arn(&self) -> Option<String> {
        self.bucket.as_ref().map(|b| format!("arn:aws:s3:::{b}"))
    }

    /// `arn:aws:s3:::BUCKET/KEY`.
    pub fn object_arn(&self) -> Option<String> {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => Some(format!("arn:aws:s3:::{b}/{k}")),
            _ => None,
        }
    }
}

/// Reads the bucket and key from the request's host and path.
///
/// Virtual-hosted style (`BUCKET.DOMAIN/KEY`) when `domain` is set and the
/// host is a subdomain of it; otherwise path style (`/BUCKET/KEY`). A key
/// must be valid UTF-8 once decoded, at most 1024 bytes, and have no `.` or
/// `..` segment: such a key names a different object on the file-backed
/// stores latchkey fronts than the one that was authorised.
pub fn target(host: Option<&str>, path: &str, domain: Option<&str>) -> Result<Target, ApiError> {
    let host = host.map(|h| h.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(h, |(name, _)| name));
    let virtual_bucket = match (host, domain) {
        (Some(h), Some(d)) => h
            .strip_suffix(d)
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|b| !b.is_empty())
            .map(str::to_ascii_lowercase),
        _ => None,
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let hosted = virtual_bucket.is_some();
    let (bucket, key) = match virtual_bucket {
        Some(b) => (Some(b), path),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(decode(b)?.into_owned()).filter(|b| !b.is_empty()), k),
            None => (Some(decode(path)?.into_owned()).filter(|b| !b.is_empty()), ""),
        },
    };
    if let Some(b) = &bucket {
        check_bucket_chars(b)?;
    }
    let key = if key.is_empty() || bucket.is_none() { None } else { Some(check_key(decode(key)?.into_owned())?) };
    Ok(Target { bucket, key, hosted })
}

fn decode(s: &str) -> Result<Cow<'_, str>, ApiError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| ApiError::of(ErrorCode::InvalidURI, "Couldn't parse the specified URI."))
}

/// Characters no bucket name has (S3's rules allow only lowercase letters,
/// digits, `.` and `-`; legacy names in us-east-1 also had uppercase and
/// `_`). Anything else cannot be a bucket and must not reach the upstream.
fn check_bucket_chars(b: &str) -> Result<(), ApiError> {
    if b.len() <= 255 && b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')) {
        Ok(())
    } else {
        Err(invalid_bucket_name(b))
    }
}

fn invalid_bucket_name(b: &str) -> ApiError {
    ApiError::of(ErrorCode::InvalidBucketName, format!("The specified bucket is not valid. ({b})"))
}

/// S3's naming rules for a new bucket: 3 to 63 characters; lowercase
/// letters, digits, dots and hyphens; beginning and ending with a letter or
/// digit; no two adjacent dots; not an IP address; none of the reserved
/// prefixes and suffixes.
pub fn check_new_bucket_name(b: &str) -> Result<(), ApiError> {
    let bytes = b.as_bytes();
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&b.len())
        && bytes.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
        && edge(bytes.first())
        && edge(bytes.last())
        && !b.contains("..")
        && b.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| b.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().any(|s| b.ends_with(s));
    if ok { Ok(()) } else { Err(invalid_bucket_name(b)) }
}

fn check_key(key: String) -> Result<String, ApiError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::of(ErrorCode::KeyTooLongError, "Your key is too long"));
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(ApiError::of(
            ErrorCode::InvalidArgument,
            "Object keys with `.` or `..` path segments are not accepted by this service.",
        ));
    }
    Ok(key)
}

/// The subresources and parameters of the query string that select an
/// operation.
#[derive(Debug, Default)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    /// Parses a raw query string.
    pub fn parse(raw: &'a str) -> Self {
        Self { pairs: form_urlencoded::parse(raw.as_bytes()).collect() }
    }

    /// Whether `name` is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

/// Who handles an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Forwarded to the upstream store.
    Forward,
    /// Answered by latchkey (bucket policies live here).
    Local,
}

/// An S3 operation: its API name (the audit record's `eventName`), the
/// permission it needs on its main resource, and who handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The API operation, e.g. `GetObject`.
    pub name: &'static str,
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: &'static str,
    /// Whether the action is on the bucket ARN, the object ARN, or `*`.
    pub on: On,
    /// Forwarded or answered here.
    pub handling: Handling,
}

/// The resource an action is authorised on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// `*` (ListBuckets).
    Any,
    /// `arn:aws:s3:::BUCKET`.
    Bucket,
    /// `arn:aws:s3:::BUCKET/KEY`.
    Object,
}

const fn op(name: &'static str, action: &'static str, on: On) -> Operation {
    Operation { name, action, on, handling: Handling::Forward }
}

const fn local(name: &'static str, action: &'static str) -> Operation {
    Operation { name, action, on: On::Bucket, handling: Handling::Local }
}

/// Names the operation of a request, or refuses one latchkey cannot
/// authorise (an unknown subresource would otherwise be forwarded under a
/// permission that does not cover it).
pub fn operation(method: &Method, target: &Target, query: &Query<'_>, has_copy_source: bool) -> Result<Operation, ApiError> {
    let unsupported = |what: &str| {
        ApiError::of(ErrorCode::NotImplemented, format!("A header or query you provided implies functionality that is not implemented ({what})."))
    };
    let m = method.as_str();
    let found = match (&target.bucket, &target.key) {
        (None, _) => match m {
            "GET" => op("ListBuckets", "s3:ListAllMyBuckets", On::Any),
            _ => return Err(ApiError::of(ErrorCode::MethodNotAllowed, "The specified method is not allowed against this resource.")),
        },
        (Some(_), None) => bucket_operation(m, query).ok_or_else(|| unsupported("bucket subresource"))?,
        (Some(_), Some(_)) => object_operation(m, query, has_copy_source).ok_or_else(|| unsupported("object subresource"))?,
    };
    Ok(found)
}

/// The bucket-level subresources latchkey knows, as (query name, read
/// operation and action, write operation and action, delete operation and
/// action).
type Sub = (&'static str, (&'static str, &'static str), (&'static str, &'static str), Option<(&'static str, &'static str)>);
const BUCKET_SUBRESOURCES: &[Sub] = &[
    ("tagging", ("GetBucketTagging", "s3:GetBucketTagging"), ("PutBucketTagging", "s3:PutBucketTagging"), Some(("DeleteBucketTagging", "s3:PutBucketTagging"))),
    ("versioning", ("GetBucketVersioning", "s3:GetBucketVersioning"), ("PutBucketVersioning", "s3:PutBucketVersioning"), None),
    ("acl", ("GetBucketAcl", "s3:GetBucketAcl"), ("PutBucketAcl", "s3:PutBucketAcl"), None),
    ("cors", ("GetBucketCors", "s3:GetBucketCORS"), ("PutBucketCors", "s3:PutBucketCORS"), Some(("DeleteBucketCors", "s3:PutBucketCORS"))),
    ("lifecycle", ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"), ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"), Some(("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"))),
    ("encryption", ("GetBucketEncryption", "s3:GetEncryptionConfiguration"), ("PutBucketEncryption", "s3:PutEncryptionConfiguration"), Some(("DeleteBucketEncryption", "s3:PutEncryptionConfiguration"))),
    ("object-lock", ("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"), ("PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"), None),
];

fn bucket_operation(m: &str, q: &Query<'_>) -> Option<Operation> {
    if q.has("policy") {
        return match m {
            "GET" => Some(local("GetBucketPolicy", "s3:GetBucketPolicy")),
            "PUT" => Some(local("PutBucketPolicy", "s3:PutBucketPolicy")),
            "DELETE" => Some(local("DeleteBucketPolicy", "s3:DeleteBucketPolicy")),
            _ => None,
        };
    }
    if q.has("location") {
        return (m == "GET").then(|| op("GetBucketLocation", "s3:GetBucketLocation", On::Bucket));
    }
    if q.has("uploads") {
        return (m == "GET").then(|| op("ListMultipartUploads", "s3:ListBucketMultipartUploads", On::Bucket));
    }
    if q.has("versions") {
        return (m == "GET").then(|| op("ListObjectVersions", "s3:ListBucketVersions", On::Bucket));
    }
    if q.has("delete") {
        // Each key is authorised as s3:DeleteObject on its own ARN.
        return (m == "POST").then(|| op("DeleteObjects", "s3:DeleteObject", On::Object));
    }
    for (name, get, put, delete) in BUCKET_SUBRESOURCES {
        if q.has(name) {
            return match (m, delete) {
                ("GET", _) => Some(op(get.0, get.1, On::Bucket)),
                ("PUT", _) => Some(op(put.0, put.1, On::Bucket)),
                ("DELETE", Some(d)) => Some(op(d.0, d.1, On::Bucket)),
                _ => None,
            };
        }
    }
    if has_other_subresource(q) {
        return None;
    }
    match m {
        "GET" if q.get("list-type") == Some("2") => Some(op("ListObjectsV2", "s3:ListBucket", On::Bucket)),
        "GET" => Some(op("ListObjects", "s3:ListBucket", On::Bucket)),
        "HEAD" => Some(op("HeadBucket", "s3:ListBucket", On::Bucket)),
        "PUT" => Some(op("CreateBucket", "s3:CreateBucket", On::Bucket)),
        "DELETE" => Some(op("DeleteBucket", "s3:DeleteBucket", On::Bucket)),
        _ => None,
    }
}

fn object_operation(m: &str, q: &Query<'_>, copy: bool) -> Option<Operation> {
    let versioned = q.has("versionId");
    if q.has("tagging") {
        return match m {
            "GET" => Some(op("GetObjectTagging", if versioned { "s3:GetObjectVersionTagging" } else { "s3:GetObjectTagging" }, On::Object)),
            "PUT" => Some(op("PutObjectTagging", if versioned { "s3:PutObjectVersionTagging" } else { "s3:PutObjectTagging" }, On::Object)),
            "DELETE" => Some(op("DeleteObjectTagging", if versioned { "s3:DeleteObjectVersionTagging" } else { "s3:DeleteObjectTagging" }, On::Object)),
            _ => None,
        };
    }
    if q.has("acl") {
        return match m {
            "GET" => Some(op("GetObjectAcl", if versioned { "s3:GetObjectVersionAcl" } else { "s3:GetObjectAcl" }, On::Object)),
            "PUT" => Some(op("PutObjectAcl", if versioned { "s3:PutObjectVersionAcl" } else { "s3:PutObjectAcl" }, On::Object)),
            _ => None,
        };
    }
    if q.has("attributes") {
        return (m == "GET").then(|| op("GetObjectAttributes", if versioned { "s3:GetObjectVersionAttributes" } else { "s3:GetObjectAttributes" }, On::Object));
    }
    if q.has("uploads") {
        return (m == "POST").then(|| op("CreateMultipartUpload", "s3:PutObject", On::Object));
    }
    if q.has("uploadId") {
        return match m {
            "PUT" if q.has("partNumber") && copy => Some(op("UploadPartCopy", "s3:PutObject", On::Object)),
            "PUT" if q.has("partNumber") => Some(op("UploadPart", "s3:PutObject", On::Object)),
            "POST" => Some(op("CompleteMultipartUpload", "s3:PutObject", On::Object)),
            "DELETE" => Some(op("AbortMultipartUpload", "s3:AbortMultipartUpload", On::Object)),
            "GET" => Some(op("ListParts", "s3:ListMultipartUploadParts", On::Object)),
            _ => None,
        };
    }
    if has_other_subresource(q) {
        return None;
    }
    match m {
        "GET" => Some(op("GetObject", if versioned { "s3:GetObjectVersion" } else { "s3:GetObject" }, On::Object)),
        "HEAD" => Some(op("HeadObject", if versioned { "s3:GetObjectVersion" } else { "s3:GetObject" }, On::Object)),
        "PUT" if copy => Some(op("CopyObject", "s3:PutObject", On::Object)),
        "PUT" => Some(op("PutObject", "s3:PutObject", On::Object)),
        "DELETE" => Some(op("DeleteObject", if versioned { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" }, On::Object)),
        _ => None,
    }
}

/// Query parameters that are not subresources: list and get parameters,
/// response overrides, and the presigned-URL signature.
fn is_plain_parameter(k: &str) -> bool {
    k.starts_with("X-Amz-")
        || k.starts_with("x-amz-")
        || k.starts_with("response-")
        || matches!(
            k,
            "list-type" | "prefix" | "delimiter" | "max-keys" | "marker" | "continuation-token" | "start-after" | "fetch-owner"
                | "encoding-type" | "versionId" | "partNumber" | "key-marker" | "version-id-marker" | "upload-id-marker"
                | "max-uploads" | "max-parts" | "part-number-marker" | "optional-object-attributes" | "x-id"
                | "bucket-region" | "max-buckets" | "AWSAccessKeyId" | "Signature" | "Expires"
        )
}

fn has_other_subresource(q: &Query<'_>) -> bool {
    q.pairs().any(|(k, _)| !is_plain_parameter(k))
}

/// A subresource a SigV2 signature does not cover (SigV2 signs only those
/// in [`latchkey_sigv4::SUBRESOURCES_V2`]): appended to a signed URL, it
/// would turn the request into another operation, so such a request is
/// refused.
pub fn unsigned_in_v2<'q>(q: &'q Query<'_>) -> Option<&'q str> {
    q.pairs().map(|(k, _)| k).find(|k| !is_plain_parameter(k) && !latchkey_sigv4::SUBRESOURCES_V2.contains(k))
}

/// The source of a copy, from `x-amz-copy-source` (`BUCKET/KEY` or
/// `/BUCKET/KEY`, URL-encoded, optionally `?versionId=`).
pub fn copy_source(header: &str) -> Result<(Target, Option<String>), ApiError> {
    let invalid = || ApiError::of(ErrorCode::InvalidArgument, "Invalid copy source object key");
    let (path, version) = match header.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v.to_owned())),
        None => (header, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
    let bucket = decode(bucket)?.into_owned();
    check_bucket_chars(&bucket)?;
    let key = check_key(decode(key)?.into_owned())?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((Target { bucket: Some(bucket), key: Some(key), hosted: false }, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, path: &str, domain: Option<&str>) -> Result<Target, ApiError> {
        target(Some(host), path, domain)
    }

    #[test]
    fn path_style_and_virtual_hosted_addressing() {
        let p = t("127.0.0.1:9000", "/bucket/a/b%20c.txt", None).unwrap();
        assert_eq!((p.bucket.as_deref(), p.key.as_deref()), (Some("bucket"), Some("a/b c.txt")));
        let root = t("localhost:9000", "/", None).unwrap();
        assert_eq!((root.bucket, root.key), (None, None));
        let bucket_only = t("localhost", "/bucket/", None).unwrap();
        assert_eq!((bucket_only.bucket.as_deref(), bucket_only.key), (Some("bucket"), None));
        let v = t("my-bucket.s3.example.test:8080", "/k", Some("s3.example.test")).unwrap();
        assert_eq!((v.bucket.as_deref(), v.key.as_deref()), (Some("my-bucket"), Some("k")));
        // The domain itself is path style.
        let d = t("s3.example.test", "/b/k", Some("s3.example.test")).unwrap();
        assert_eq!((d.bucket.as_deref(), d.key.as_deref()), (Some("b"), Some("k")));
        assert_eq!(v.object_arn().unwrap(), "arn:aws:s3:::my-bucket/k");
        assert_eq!(v.bucket_arn().unwrap(), "arn:aws:s3:::my-bucket");
    }

    #[test]
    fn keys_that_would_name_another_object_are_refused() {
        for bad in ["/b/../etc/passwd", "/b/a/./c", "/b/a/%2E%2E/c", "/b/.."] {
            assert_eq!(t("h", bad, None).unwrap_err().kind(), ErrorCode::InvalidArgument, "{bad}");
        }
        assert_eq!(t("h", "/b/%FF%FE", None).unwrap_err().kind(), ErrorCode::InvalidURI);
        let long = format!("/b/{}", "k".repeat(1025));
        assert_eq!(t("h", &long, None).unwrap_err().kind(), ErrorCode::KeyTooLongError);
        assert!(t("h", &format!("/b/{}", "k".repeat(1024)), None).is_ok());
        // Dots inside a segment are ordinary characters.
        assert!(t("h", "/b/a..b/.hidden/x.", None).is_ok());
        assert_eq!(t("h", "/b%2Fx/k", None).unwrap_err().kind(), ErrorCode::InvalidBucketName);
    }

    #[test]
    fn new_bucket_names_follow_s3s_rules() {
        for good in ["abc", "my-learnaws-test-bucket", "a.b-c", &"a".repeat(63)] {
            assert!(check_new_bucket_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Abc", "a_b", "-ab", "ab-", "a..b", "192.168.5.4", "xn--ab", "ab-s3alias", &"a".repeat(64)] {
            assert!(check_new_bucket_name(bad).is_err(), "{bad}");
        }
    }

    fn name(m: Method, path: &str, query: &str, copy: bool) -> &'static str {
        let target = t("h", path, None).unwrap();
        let q = Query::parse(query);
        operation(&m, &target, &q, copy).map(|o| o.name).unwrap_or("refused")
    }

    #[test]
    fn operations_by_method_subresource_and_headers() {
        assert_eq!(name(Method::GET, "/", "", false), "ListBuckets");
        assert_eq!(name(Method::GET, "/b", "list-type=2&prefix=a", false), "ListObjectsV2");
        assert_eq!(name(Method::GET, "/b", "prefix=a&delimiter=/", false), "ListObjects");
        assert_eq!(name(Method::GET, "/b", "location", false), "GetBucketLocation");
        assert_eq!(name(Method::PUT, "/b", "policy", false), "PutBucketPolicy");
        assert_eq!(name(Method::HEAD, "/b", "", false), "HeadBucket");
        assert_eq!(name(Method::PUT, "/b", "", false), "CreateBucket");
        assert_eq!(name(Method::DELETE, "/b", "tagging", false), "DeleteBucketTagging");
        assert_eq!(name(Method::POST, "/b", "delete", false), "DeleteObjects");
        assert_eq!(name(Method::GET, "/b/k", "", false), "GetObject");
        assert_eq!(name(Method::GET, "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&response-content-type=x", false), "GetObject");
        assert_eq!(name(Method::PUT, "/b/k", "", true), "CopyObject");
        assert_eq!(name(Method::POST, "/b/k", "uploads", false), "CreateMultipartUpload");
        assert_eq!(name(Method::PUT, "/b/k", "partNumber=1&uploadId=u", false), "UploadPart");
        assert_eq!(name(Method::PUT, "/b/k", "partNumber=1&uploadId=u", true), "UploadPartCopy");
        assert_eq!(name(Method::POST, "/b/k", "uploadId=u", false), "CompleteMultipartUpload");
        assert_eq!(name(Method::DELETE, "/b/k", "uploadId=u", false), "AbortMultipartUpload");
        assert_eq!(name(Method::GET, "/b/k", "uploadId=u", false), "ListParts");
        // Unknown subresources are refused rather than forwarded under a
        // permission that does not cover them.
        assert_eq!(name(Method::GET, "/b", "website", false), "refused");
        assert_eq!(name(Method::POST, "/b/k", "restore", false), "refused");
        assert_eq!(name(Method::PUT, "/", "", false), "refused");
    }

    #[test]
    fn versioned_requests_need_the_version_permissions() {
        let target = t("h", "/b/k", None).unwrap();
        let get = operation(&Method::GET, &target, &Query::parse("versionId=3"), false).unwrap();
        assert_eq!(get.action, "s3:GetObjectVersion");
        let del = operation(&Method::DELETE, &target, &Query::parse("versionId=3"), false).unwrap();
        assert_eq!(del.action, "s3:DeleteObjectVersion");
    }

    #[test]
    fn copy_sources() {
        let (src, v) = copy_source("/src-bucket/a%20b.txt?versionId=x1").unwrap();
        assert_eq!(src.object_arn().unwrap(), "arn:aws:s3:::src-bucket/a b.txt");
        assert_eq!(v.as_deref(), Some("x1"));
        assert!(copy_source("bucket-only").is_err());
        assert!(copy_source("b/../k").is_err());
    }
}
