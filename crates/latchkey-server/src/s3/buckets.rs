//! What latchkey keeps about buckets and answers itself: which account
//! owns each bucket (S3 bucket names are global, the upstream store knows
//! only latchkey's own key), ListBuckets filtered to the caller's account,
//! and bucket policies, stored and evaluated by latchkey.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::StatusCode;
use latchkey_model::AccountId;

use super::authorize::{self, Need};
use super::request::{self, Operation, Target};
use super::{Call, Outcome, body};
use crate::authn::{Authenticated, Caller};
use crate::authz::Authorized;
use crate::protocol::s3::{self as wire, element};
use crate::state::{Snapshot, buckets as ops};
use crate::{ApiError, App, ErrorCode};

/// S3's limit on a bucket policy's size.
const MAX_POLICY_BYTES: usize = 20 * 1024;
/// A DeleteObjects body: at most 1,000 keys of at most 1,024 bytes.
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

fn no_such_bucket() -> ApiError {
    ApiError::of(ErrorCode::NoSuchBucket, "The specified bucket does not exist")
}

fn already_exists() -> ApiError {
    ApiError::of(
        ErrorCode::BucketAlreadyExists,
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
    )
}

fn owned_by_you() -> ApiError {
    ApiError::of(ErrorCode::BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::of(ErrorCode::MalformedPolicy, message)
}

/// The bucket policy operations, which only the owning account may call
/// (S3 answers others 405).
pub(super) async fn local(
    call: Call<'_>,
    proof: &Authorized,
    op: Operation,
    bucket: &str,
    caller: &Caller,
    body: Body,
    check: body::Check,
) -> Result<Response, ApiError> {
    let (app, request_id) = (call.app, call.request_id);
    let snap = app.state.snapshot();
    let entry = snap.bucket(bucket).ok_or_else(no_such_bucket)?;
    if entry.bucket.account != caller.account {
        return Err(ApiError::of(ErrorCode::MethodNotAllowed, "The specified method is not allowed against this resource."));
    }
    match op.name {
        "GetBucketPolicy" => {
            let document = entry.bucket.policy.as_deref().ok_or_else(|| {
                ApiError::of(ErrorCode::NoSuchBucketPolicy, "The bucket policy does not exist")
            })?;
            let shown = crate::state::principals::display(&snap, document, &entry.bucket.policy_principals);
            Ok(wire::local_response(StatusCode::OK, Some("application/json"), shown.into_owned(), request_id))
        }
        "PutBucketPolicy" => {
            let bytes = body::collect(body, check, MAX_POLICY_BYTES).await?;
            let document = std::str::from_utf8(&bytes).map_err(|_| malformed("This policy contains invalid Json"))?;
            check_policy_resources(document, bucket)?;
            let name = bucket.to_owned();
            let written = app
                .state
                .write(proof, |snap| {
                    snap.bucket(&name).ok_or_else(no_such_bucket)?;
                    let op = ops::put_policy(snap, &name, document).map_err(|e| malformed(e.message()))?;
                    Ok((vec![op], ()))
                })
                .await;
            match written {
                Err(e) if ops::bucket_gone(&e) => Err(no_such_bucket()),
                other => other.map(|()| wire::local_response(StatusCode::NO_CONTENT, None, String::new(), request_id)),
            }
        }
        _ => {
            let name = bucket.to_owned();
            let written = app
                .state
                .write(proof, |snap| {
                    let e = snap.bucket(&name).ok_or_else(no_such_bucket)?;
                    if e.bucket.policy.is_none() {
                        return Ok((Vec::new(), ()));
                    }
                    Ok((vec![ops::delete_policy(&name)], ()))
                })
                .await;
            match written {
                Err(e) if ops::bucket_gone(&e) => Err(no_such_bucket()),
                other => other.map(|()| wire::local_response(StatusCode::NO_CONTENT, None, String::new(), request_id)),
            }
        }
    }
}

/// Every `Resource` of a bucket policy must be the bucket or an object in
/// it ("Policy has invalid resource", as S3 answers a policy that names
/// another bucket, another account's included).
fn check_policy_resources(document: &str, bucket: &str) -> Result<(), ApiError> {
    let v: serde_json::Value = serde_json::from_str(document).map_err(|_| malformed("This policy contains invalid Json"))?;
    let statements = match v.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(s @ serde_json::Value::Object(_)) => vec![s.clone()],
        _ => return Err(malformed("Missing required field Statement")),
    };
    let own = format!("arn:aws:s3:::{bucket}");
    for s in &statements {
        if s.get("Principal").is_none() && s.get("NotPrincipal").is_none() {
            return Err(malformed("Missing required field Principal"));
        }
        let resources = match s.get("Resource").or_else(|| s.get("NotResource")) {
            Some(serde_json::Value::String(r)) => vec![r.clone()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect(),
            _ => return Err(malformed("Missing required field Resource")),
        };
        for r in resources {
            let inside = r == own || r.strip_prefix(&own).is_some_and(|rest| rest.starts_with('/'));
            if !inside {
                return Err(malformed("Policy has invalid resource"));
            }
        }
    }
    Ok(())
}

/// CreateBucket: the name is claimed for the caller's account in the store
/// first (so two accounts racing cannot both get it), then created
/// upstream; an upstream failure gives the name back.
pub(super) async fn create(
    call: Call<'_>,
    notes: &mut crate::audit::Notes,
    proof: &Authorized,
    caller: &Caller,
    body: Body,
    check: body::Check,
) -> Result<Response, ApiError> {
    let (app, now) = (call.app, call.now);
    let name = call.target.bucket.clone().unwrap_or_default();
    request::check_new_bucket_name(&name)?;
    let configuration = body::collect(body, check, 64 * 1024).await?;
    let region = location_constraint(&configuration).unwrap_or_else(|| "us-east-1".to_owned());
    let account = caller.account;
    let claimed = app
        .state
        .write(proof, |snap| {
            if let Some(e) = snap.bucket(&name) {
                return Err(if e.bucket.account == account { owned_by_you() } else { already_exists() });
            }
            Ok((vec![ops::create(&name, account, &region, now)], ()))
        })
        .await;
    match claimed {
        Err(e) if ops::name_taken(&e) => return Err(already_exists()),
        other => other?,
    }
    let length = configuration.len() as u64;
    let sent = super::send(call, notes, proof, Body::from(configuration), (length > 0).then_some(length), None).await;
    let succeeded = sent.as_ref().is_ok_and(|r| r.status().is_success());
    if !succeeded {
        let failed = notes.failed.clone();
        notes.failed = None;
        forget(app, proof, &name).await?;
        // A bucket the store had before latchkey fronted it belongs to the
        // management account.
        if let Some((code, _)) = failed.as_ref().filter(|(c, _)| c == "BucketAlreadyOwnedByYou" || c == "BucketAlreadyExists") {
            let _ = code;
            let snap = app.state.snapshot();
            return Err(if snap.org.management == Some(account) { owned_by_you() } else { already_exists() });
        }
        notes.failed = failed;
    }
    sent
}

/// `LocationConstraint` of a CreateBucketConfiguration body.
fn location_constraint(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    element(text, "LocationConstraint").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// DeleteBucket succeeded upstream: forget the bucket and its policy.
pub async fn forget_if_deleted(app: &App, proof: &Authorized, target: &Target, status: StatusCode) -> Result<(), ApiError> {
    match target.bucket.as_deref().filter(|_| status.is_success()) {
        Some(name) => forget(app, proof, name).await,
        None => Ok(()),
    }
}

/// Removes bucket `name` (and its policy) from the store, if latchkey has it.
async fn forget(app: &App, proof: &Authorized, name: &str) -> Result<(), ApiError> {
    app.state.write(proof, |snap| Ok((snap.bucket(name).map(|_| ops::delete(name)).into_iter().collect(), ()))).await
}

/// S3's canonical user id for an account: 64 hex digits, stable.
fn canonical_id(account: &AccountId) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("latchkey-canonical-user:{account}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// ListBuckets: the upstream's buckets that the caller's account owns.
pub(super) async fn list(
    call: Call<'_>,
    snap: &Snapshot,
    notes: &mut crate::audit::Notes,
    proof: &Authorized,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let response = super::send(call, notes, proof, Body::empty(), None, None).await?;
    if !response.status().is_success() {
        return Ok(response);
    }
    let bytes = http_body_util::BodyExt::collect(http_body_util::Limited::new(response.into_body(), 16 * 1024 * 1024))
        .await
        .map_err(|_| ApiError::of(ErrorCode::InternalError, "We encountered an internal error. Please try again."))?
        .to_bytes();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    xml.push_str(&format!("<Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner><Buckets>", canonical_id(&caller.account), caller.account));
    for (name, created) in bucket_entries(&bytes) {
        if authorize::owner(snap, &name) != Some(caller.account) {
            continue;
        }
        let region = snap.bucket(&name).map_or("us-east-1", |b| b.bucket.region.as_str());
        xml.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{region}</BucketRegion></Bucket>",
            quick_xml::escape::escape(&name),
            quick_xml::escape::escape(&created)
        ));
    }
    xml.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(wire::local_response(StatusCode::OK, Some("application/xml"), xml, call.request_id))
}

/// (Name, CreationDate) of each `<Bucket>` of a ListAllMyBucketsResult.
fn bucket_entries(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for piece in text.split("<Bucket>").skip(1) {
        let inner = piece.split("</Bucket>").next().unwrap_or_default();
        if let Some(name) = element(inner, "Name") {
            out.push((name, element(inner, "CreationDate").unwrap_or_default()));
        }
    }
    out
}

/// DeleteObjects: the list is read (checked, bounded) and every key
/// decided as `s3:DeleteObject` (or `s3:DeleteObjectVersion`) on its own
/// ARN; all must be allowed. Answers the first proof and the body to
/// forward unchanged (its Content-MD5 stays right).
pub(super) async fn delete_objects(
    snap: &Snapshot,
    authed: &Authenticated,
    target: &Target,
    context: &latchkey_policy::Context,
    body: Body,
    check: body::Check,
    outcome: &mut Outcome,
) -> Result<(Authorized, Bytes), ApiError> {
    let bytes = body::collect(body, check, MAX_DELETE_BODY).await?;
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed_xml())?;
    let bucket = target.bucket.as_deref().unwrap_or_default();
    let mut first = None;
    let mut count = 0usize;
    for object in text.split("<Object>").skip(1) {
        let inner = object.split("</Object>").next().unwrap_or_default();
        let key = element(inner, "Key").ok_or_else(malformed_xml)?;
        let key = request::target(None, &format!("/{bucket}/{}", encode_for_check(&key)), None)?.key.unwrap_or_default();
        let action = if element(inner, "VersionId").is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
        let arn = format!("arn:aws:s3:::{bucket}/{key}");
        let proof = super::decide(snap, authed, Need { action, resource: &arn, bucket: Some(bucket) }, context, outcome)?;
        first.get_or_insert(proof);
        count += 1;
    }
    if count > 1000 {
        return Err(malformed_xml());
    }
    let proof = first.ok_or_else(malformed_xml)?;
    Ok((proof, bytes))
}

fn malformed_xml() -> ApiError {
    ApiError::of(ErrorCode::MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}


/// A decoded key encoded again so that [`request::target`] checks it as it
/// checks a path.
fn encode_for_check(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_may_name_only_its_own_bucket() {
        let doc = |r: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":{r}}}]}}"#);
        assert!(check_policy_resources(&doc(r#""arn:aws:s3:::b/*""#), "b").is_ok());
        assert!(check_policy_resources(&doc(r#"["arn:aws:s3:::b","arn:aws:s3:::b/x"]"#), "b").is_ok());
        for bad in [r#""arn:aws:s3:::other/*""#, r#""arn:aws:s3:::bb/*""#, r#""*""#, r#""arn:aws:s3:::b*""#] {
            assert_eq!(check_policy_resources(&doc(bad), "b").unwrap_err().message(), "Policy has invalid resource", "{bad}");
        }
        let no_principal = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b"}]}"#;
        assert_eq!(check_policy_resources(no_principal, "b").unwrap_err().message(), "Missing required field Principal");
    }

    #[test]
    fn list_entries_and_location() {
        let body = b"<ListAllMyBucketsResult><Buckets><Bucket><Name>a&amp;b</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>c</Name></Bucket></Buckets></ListAllMyBucketsResult>";
        let entries = bucket_entries(body);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries.first().unwrap().0, "a&b");
        assert_eq!(location_constraint(b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>").as_deref(), Some("eu-west-1"));
        assert_eq!(location_constraint(b""), None);
        assert_eq!(canonical_id(&"123456789012".parse().unwrap()).len(), 64);
    }
}
