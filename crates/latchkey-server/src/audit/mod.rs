//! Turning one API call into its CloudTrail records.
//!
//! The HTTP layer gathers who called (`Who`, built right after
//! authentication, or from the key a refused signature named), the request's
//! parameters, the outcome and what the handler noted (`Notes`), and asks
//! [`commit`] to record it. What is left out on purpose: secret access keys,
//! session tokens, MFA codes, passwords, assertions, signatures. Parameters
//! that carry secrets are written as AWS writes them,
//! `HIDDEN_DUE_TO_SECURITY_REASONS`; responses keep only what is safe.

use latchkey_audit::{
    EVENT_VERSION, Event, LookupResource, Record, Resource, SessionAttributes, SessionContext, SessionIssuer, Trail, UserIdentity,
};
use latchkey_model::{AccountId, Arn, format_iso8601};
use latchkey_token::{SessionClaims, SessionKind};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::authn::Principal;
use crate::protocol::Service;
use crate::protocol::query::Params;

/// What AWS writes in place of a secret parameter.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Parameters whose values never reach the trail.
const SECRET_PARAMS: &[&str] = &[
    "TokenCode",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "Password",
    "NewPassword",
    "OldPassword",
    "SAMLAssertion",
    "WebIdentityToken",
    "SecretAccessKey",
    "SessionToken",
];

/// The caller as the trail shows it.
#[derive(Debug, Clone)]
pub struct Who {
    /// The caller's account: the trail the record goes to.
    pub account: AccountId,
    /// `userIdentity`.
    pub identity: UserIdentity,
    /// LookupEvents' `Username`.
    pub username: String,
    /// The session's source identity, searchable as a resource name.
    pub source_identity: Option<String>,
}

impl Who {
    /// The identity of `principal` in `account`, signing with `access_key_id`,
    /// holding `session` when temporary.
    pub fn new(account: &AccountId, principal: &Principal, session: Option<&SessionClaims>, access_key_id: &str) -> Self {
        let account_text = account.to_string();
        let session_context = |issuer: Option<SessionIssuer>| {
            session.map(|s| SessionContext {
                session_issuer: issuer,
                attributes: SessionAttributes {
                    creation_date: format_iso8601(s.issued_at),
                    mfa_authenticated: if s.mfa_authenticated { "true" } else { "false" },
                },
                source_identity: s.source_identity.clone(),
            })
        };
        let (identity, username) = match principal {
            Principal::Root => (
                UserIdentity {
                    kind: "Root",
                    principal_id: Some(account_text.clone()),
                    arn: Some(Arn::root(account)),
                    account_id: Some(account_text.clone()),
                    access_key_id: Some(access_key_id.to_owned()),
                    user_name: None,
                    session_context: session_context(None),
                },
                "root".to_owned(),
            ),
            Principal::User { id, name, arn } => (
                UserIdentity {
                    kind: "IAMUser",
                    principal_id: Some(id.clone()),
                    arn: Some(arn.clone()),
                    account_id: Some(account_text.clone()),
                    access_key_id: Some(access_key_id.to_owned()),
                    user_name: Some(name.clone()),
                    session_context: session_context(None),
                },
                name.clone(),
            ),
            Principal::AssumedRole { role_id, role_arn, arn, session_name } => {
                let role_name = match session.map(|s| &s.kind) {
                    Some(SessionKind::AssumedRole { role_name, .. }) => Some(role_name.clone()),
                    _ => None,
                };
                let issuer = SessionIssuer {
                    kind: "Role",
                    principal_id: role_id.clone(),
                    arn: role_arn.clone(),
                    account_id: account_text.clone(),
                    user_name: role_name,
                };
                (
                    UserIdentity {
                        kind: "AssumedRole",
                        principal_id: Some(format!("{role_id}:{session_name}")),
                        arn: Some(arn.clone()),
                        account_id: Some(account_text.clone()),
                        access_key_id: Some(access_key_id.to_owned()),
                        user_name: None,
                        session_context: session_context(Some(issuer)),
                    },
                    session_name.clone(),
                )
            }
            Principal::FederatedUser { name, arn, user_id, user_arn } => {
                let issuer = SessionIssuer {
                    kind: if user_id.is_some() { "IAMUser" } else { "Root" },
                    principal_id: user_id.clone().unwrap_or_else(|| account_text.clone()),
                    arn: user_arn.clone(),
                    account_id: account_text.clone(),
                    user_name: user_id.as_ref().and_then(|_| user_arn.rsplit('/').next().map(str::to_owned)),
                };
                (
                    UserIdentity {
                        kind: "FederatedUser",
                        principal_id: Some(format!("{account_text}:{name}")),
                        arn: Some(arn.clone()),
                        account_id: Some(account_text.clone()),
                        access_key_id: Some(access_key_id.to_owned()),
                        user_name: None,
                        session_context: session_context(Some(issuer)),
                    },
                    name.clone(),
                )
            }
        };
        Self { account: *account, identity, username, source_identity: session.and_then(|s| s.source_identity.clone()) }
    }
}

/// What a handler adds to its call's record.
#[derive(Debug, Default)]
pub struct Notes {
    /// `responseElements`.
    pub response: Option<Value>,
    /// LookupEvents resources beyond those named by the parameters.
    pub lookup_resources: Vec<LookupResource>,
    /// The record's `resources`.
    pub resources: Vec<Resource>,
    /// Further names a ResourceName lookup should match.
    pub extra_names: Vec<String>,
    /// Another account the call acted in (a cross-account AssumeRole): it
    /// gets its own record, sharing an event id with the caller's.
    pub other_account: Option<AccountId>,
    /// Which kind of temporary credentials the call issued.
    pub issued: Option<&'static str>,
    /// `additionalEventData` (S3's data events: how the request was
    /// signed, and why latchkey refused it).
    pub additional: Option<Map<String, Value>>,
    /// The code and message of a failure the call passed on rather than
    /// made (an S3 store's error response, relayed as it came).
    pub failed: Option<(String, String)>,
}

impl Notes {
    /// Records the credentials handed out, keeping only what is safe.
    pub fn credentials(&mut self, kind: &'static str, access_key_id: &str, expiration: i64) {
        self.issued = Some(kind);
        self.respond("credentials", serde_json::json!({ "accessKeyId": access_key_id, "expiration": format_iso8601(expiration) }));
        self.lookup_resources.push(LookupResource { kind: "AWS::IAM::AccessKey".to_owned(), name: access_key_id.to_owned() });
    }

    /// Adds `key: value` to `additionalEventData`.
    pub fn additional(&mut self, key: &str, value: Value) {
        self.additional.get_or_insert_with(Map::new).insert(key.to_owned(), value);
    }

    /// Adds `key: value` to `responseElements`.
    pub fn respond(&mut self, key: &str, value: Value) {
        match &mut self.response {
            Some(Value::Object(m)) => {
                m.insert(key.to_owned(), value);
            }
            _ => {
                let mut m = Map::new();
                m.insert(key.to_owned(), value);
                self.response = Some(Value::Object(m));
            }
        }
    }
}

/// Whether CloudTrail marks the action read-only. STS calls change no
/// resource, so AWS marks them all read-only.
pub fn is_read_only(service: Service, action: &str) -> bool {
    match service {
        Service::Sts => true,
        Service::S3 => ["Get", "List", "Head"].iter().any(|p| action.starts_with(p)),
        _ => ["Get", "List", "Describe", "Lookup", "Simulate", "Decode"].iter().any(|p| action.starts_with(p)),
    }
}

/// Whether a successful call must not answer before its record is durable:
/// every write, and every call that hands out credentials.
pub fn must_be_durable(service: Service, action: &str, notes: &Notes) -> bool {
    notes.issued.is_some() || !is_read_only(service, action)
}

/// `requestParameters` from awsQuery parameters: keys lower-camel-cased as
/// CloudTrail writes them, `X.member.N` lists as arrays, secrets hidden,
/// signing parameters left out.
pub fn query_parameters(params: &Params) -> Option<Value> {
    let mut root = Map::new();
    for (key, value) in params.iter() {
        if key == "Action" || key == "Version" || key.starts_with("X-Amz-") {
            continue;
        }
        let hidden = SECRET_PARAMS.contains(&key);
        let leaf_name = key.rsplit('.').next().unwrap_or(key);
        let leaf = if hidden {
            Value::String(HIDDEN.to_owned())
        } else if (leaf_name.ends_with("Seconds") || leaf_name == "MaxItems" || leaf_name == "MaxSessionDuration")
            && let Ok(n) = value.parse::<i64>()
        {
            Value::from(n)
        } else {
            Value::String(value.to_owned())
        };
        insert_path(&mut root, key, leaf);
    }
    (!root.is_empty()).then_some(Value::Object(root))
}

/// Places `leaf` at `Name.member.N.Field…` in `root`.
fn insert_path(root: &mut Map<String, Value>, key: &str, leaf: Value) {
    let mut parts = key.split('.').peekable();
    let mut current = root;
    while let Some(part) = parts.next() {
        let name = crate::protocol::query::lower_first(part);
        let last = parts.peek().is_none();
        if last {
            current.insert(name, leaf);
            return;
        }
        // `member.N` or `entry.N` makes this key an array, element N-1.
        let is_list = matches!(parts.peek(), Some(&"member") | Some(&"entry"));
        if is_list {
            parts.next();
            let Some(index) = parts.next().and_then(|n| n.parse::<usize>().ok()).and_then(|n| n.checked_sub(1)) else {
                return;
            };
            // Bounded: AWS's lists are short, and a hostile index must not
            // make the record huge.
            if index >= 1000 {
                return;
            }
            let slot = current.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else { return };
            if items.len() <= index {
                items.resize(index + 1, Value::Null);
            }
            let Some(item) = items.get_mut(index) else { return };
            if parts.peek().is_none() {
                *item = leaf;
                return;
            }
            if !item.is_object() {
                *item = Value::Object(Map::new());
            }
            let Value::Object(m) = item else { return };
            current = m;
        } else {
            let slot = current.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(m) = slot else { return };
            current = m;
        }
    }
}

/// `requestParameters` from an awsJson body: keys lower-camel-cased.
pub fn json_parameters(body: &Value) -> Option<Value> {
    fn lower(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let hidden = SECRET_PARAMS.contains(&k.as_str());
                        (crate::protocol::query::lower_first(k), if hidden { Value::String(HIDDEN.to_owned()) } else { lower(v) })
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(lower).collect()),
            other => other.clone(),
        }
    }
    match body {
        Value::Object(m) if !m.is_empty() => Some(lower(body)),
        _ => None,
    }
}

/// LookupEvents resources named by well-known parameters.
fn parameter_resources(params: &Params, out: &mut Vec<LookupResource>) {
    const NAMED: &[(&str, &str)] = &[
        ("UserName", "AWS::IAM::User"),
        ("RoleName", "AWS::IAM::Role"),
        ("RoleArn", "AWS::IAM::Role"),
        ("RoleSessionName", "AWS::STS::AssumedRole"),
        ("Name", "AWS::STS::FederatedUser"),
        ("GroupName", "AWS::IAM::Group"),
        ("PolicyArn", "AWS::IAM::Policy"),
        ("AccessKeyId", "AWS::IAM::AccessKey"),
        ("SerialNumber", "AWS::IAM::MFADevice"),
        ("VirtualMFADeviceName", "AWS::IAM::MFADevice"),
        ("OpenIDConnectProviderArn", "AWS::IAM::OIDCProvider"),
        ("SAMLProviderArn", "AWS::IAM::SAMLProvider"),
    ];
    for (param, kind) in NAMED {
        if let Some(v) = params.get(param) {
            out.push(LookupResource { kind: (*kind).to_owned(), name: v.to_owned() });
        }
    }
}

/// Everything known about one finished call.
#[derive(Debug)]
pub struct Call<'a> {
    /// The service.
    pub service: Service,
    /// The action.
    pub action: &'a str,
    /// The caller, when the key was known.
    pub who: &'a Who,
    /// Unix seconds.
    pub time: i64,
    /// The credential scope's region.
    pub region: &'a str,
    /// The peer's address.
    pub source_ip: String,
    /// The User-Agent header.
    pub user_agent: &'a str,
    /// The response's request id.
    pub request_id: &'a str,
    /// awsQuery parameters (empty for awsJson).
    pub params: &'a Params,
    /// awsJson body (`null` for awsQuery).
    pub json: &'a Value,
    /// The handler's notes.
    pub notes: &'a Notes,
}

/// Records `call`, whose outcome is `result`, in the trail. A write, or a
/// call that issued credentials, waits until its records are durable; if
/// they cannot be made so, `result` becomes ServiceUnavailable, so that no
/// credentials leave unrecorded. Any other call's records are queued,
/// waiting only for room in the queue.
pub async fn commit(trail: &Trail, call: &Call<'_>, result: &mut Result<Option<String>, ApiError>) {
    let records = records(call, result.as_ref().err());
    if result.is_ok() && must_be_durable(call.service, call.action, call.notes) {
        if trail.record_durable(records).await.is_err() {
            // A write has been applied, but its caller must know it went
            // unrecorded.
            *result = Err(ApiError::service_unavailable(if call.notes.issued.is_some() {
                "The audit trail is unavailable; no credentials were issued."
            } else {
                "The change was applied, but the audit trail is unavailable to record it."
            }));
            if call.notes.issued.is_none() {
                tracing::error!(request_id = %call.request_id, action = %call.action, "a write was applied but its audit record could not be written");
            }
        }
    } else if trail.record(records).await.is_err() {
        tracing::error!(request_id = %call.request_id, action = %call.action, "the audit writer has stopped; a record was lost");
    }
}

/// The records of `call` (failed with `error`, if it did): one in the
/// caller's trail, and one in another account's when the call reached into
/// it, the two sharing an event id.
pub fn records(call: &Call<'_>, error: Option<&ApiError>) -> Vec<Record> {
    // S3 calls are data events: their parameters come as the front end
    // wrote them (bucketName, key, Host, ...), not as awsQuery or awsJson.
    let data = call.service == Service::S3;
    let request_parameters = if data {
        Some(call.json.clone())
    } else if call.service.is_json() {
        json_parameters(call.json)
    } else {
        query_parameters(call.params)
    };
    let mut lookup_resources = Vec::new();
    parameter_resources(call.params, &mut lookup_resources);
    lookup_resources.extend(call.notes.lookup_resources.iter().cloned());
    let mut extra_names = call.notes.extra_names.clone();
    if let Some(si) = &call.who.source_identity {
        extra_names.push(si.clone());
    }
    let other = call.notes.other_account.filter(|a| *a != call.who.account);
    let shared_event_id = other.map(|_| uuid::Uuid::new_v4().to_string());
    let mut event = Event {
        event_version: EVENT_VERSION,
        user_identity: call.who.identity.clone(),
        event_time: format_iso8601(call.time),
        event_source: event_source(call.service),
        event_name: call.action.to_owned(),
        aws_region: call.region.to_owned(),
        source_ip_address: call.source_ip.clone(),
        user_agent: call.user_agent.to_owned(),
        error_code: error.map(|e| e.code().to_owned()).or_else(|| call.notes.failed.as_ref().map(|f| f.0.clone())),
        error_message: error.map(|e| e.message().to_owned()).or_else(|| call.notes.failed.as_ref().map(|f| f.1.clone())),
        request_parameters,
        response_elements: if error.is_some() || call.notes.failed.is_some() { None } else { call.notes.response.clone() },
        request_id: call.request_id.to_owned(),
        event_id: uuid::Uuid::new_v4().to_string(),
        read_only: is_read_only(call.service, call.action),
        resources: call.notes.resources.clone(),
        event_type: "AwsApiCall",
        management_event: !data,
        recipient_account_id: call.who.account.to_string(),
        shared_event_id,
        event_category: if data { "Data" } else { "Management" },
        additional_event_data: call.notes.additional.clone().map(Value::Object),
    };
    let mut out = Vec::with_capacity(2);
    let row = |event: &Event, username: Option<String>| {
        Record::new(event, call.time, username, lookup_resources.clone(), extra_names.clone())
    };
    match row(&event, Some(call.who.username.clone())) {
        Ok(r) => out.push(r),
        Err(e) => tracing::error!(error = %e, "could not serialise an audit record"),
    }
    if let Some(other) = other {
        event.event_id = uuid::Uuid::new_v4().to_string();
        event.recipient_account_id = other.to_string();
        // The other account sees only which account, and which principal
        // id in it, called: not the caller's ARN, name or access key.
        event.user_identity = other_account_identity(&call.who.identity);
        match row(&event, None) {
            Ok(r) => out.push(r),
            Err(e) => tracing::error!(error = %e, "could not serialise an audit record"),
        }
    }
    out
}

/// `userIdentity` in the record of the account a call reached into (the role
/// owner's copy of a cross-account AssumeRole): type `AWSAccount`, the
/// caller's principal id and account, nothing else, as in the IAM User
/// Guide's "Logging IAM and AWS STS API calls with AWS CloudTrail"
/// (cross-account AssumeRole example).
fn other_account_identity(caller: &UserIdentity) -> UserIdentity {
    UserIdentity {
        kind: "AWSAccount",
        principal_id: caller.principal_id.clone(),
        arn: None,
        account_id: caller.account_id.clone(),
        access_key_id: None,
        user_name: None,
        session_context: None,
    }
}

/// `eventSource`.
pub fn event_source(service: Service) -> &'static str {
    match service {
        Service::Sts => "sts.amazonaws.com",
        Service::Iam => "iam.amazonaws.com",
        Service::Organizations => "organizations.amazonaws.com",
        Service::CloudTrail => "cloudtrail.amazonaws.com",
        Service::S3 => "s3.amazonaws.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn query_parameters_nest_lists_and_hide_secrets() {
        let p = params(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::111122223333:role/r"),
            ("DurationSeconds", "900"),
            ("TokenCode", "123456"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "blue"),
            ("Tags.member.2.Key", "env"),
            ("TransitiveTagKeys.member.1", "team"),
            ("X-Amz-Signature", "deadbeef"),
            ("X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE"),
        ]);
        let v = query_parameters(&p).unwrap();
        assert_eq!(v["roleArn"], "arn:aws:iam::111122223333:role/r");
        assert_eq!(v["durationSeconds"], 900);
        assert_eq!(v["tokenCode"], HIDDEN);
        assert_eq!(v["tags"][0]["key"], "team");
        assert_eq!(v["tags"][0]["value"], "blue");
        assert_eq!(v["tags"][1]["key"], "env");
        assert_eq!(v["transitiveTagKeys"][0], "team");
        let text = v.to_string();
        for secret in ["123456", "deadbeef", "FwoGZXIvYXdzEXAMPLE", "AssumeRole"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }

    #[test]
    fn hostile_list_indexes_are_bounded() {
        let p = params(&[("Tags.member.99999999.Key", "x"), ("Tags.member.0.Key", "y"), ("Tags.member.x.Key", "z")]);
        assert_eq!(query_parameters(&p), None, "no element is made for an out-of-range index");
    }

    #[test]
    fn json_parameters_hide_secrets() {
        let v = json_parameters(&serde_json::json!({"Email": "a@b.c", "Password": "p4ss", "Nested": [{"TokenCode": "1"}]})).unwrap();
        assert_eq!(v["email"], "a@b.c");
        assert_eq!(v["password"], HIDDEN);
        assert_eq!(v["nested"][0]["tokenCode"], HIDDEN);
    }

    #[test]
    fn the_role_owners_copy_names_only_the_calling_account() {
        let caller: AccountId = "111122223333".parse().unwrap();
        let owner: AccountId = "444455556666".parse().unwrap();
        let principal = Principal::User {
            id: "AIDAEXAMPLEUSER00001".into(),
            name: "johndoe".into(),
            arn: "arn:aws:iam::111122223333:user/johndoe".into(),
        };
        let who = Who::new(&caller, &principal, None, "AKIAEXAMPLEKEY000001");
        let p = params(&[("RoleArn", "arn:aws:iam::444455556666:role/r"), ("RoleSessionName", "s")]);
        let mut notes = Notes { other_account: Some(owner), ..Notes::default() };
        notes.credentials("AssumeRole", "ASIAEXAMPLEKEY000001", 0);
        let json = Value::Null;
        let call = Call {
            service: Service::Sts,
            action: "AssumeRole",
            who: &who,
            time: 0,
            region: "us-east-1",
            source_ip: "127.0.0.1".into(),
            user_agent: "test",
            request_id: "r",
            params: &p,
            json: &json,
            notes: &notes,
        };
        let out = records(&call, None);
        let [ours, theirs] = out.as_slice() else { panic!("two records expected, got {}", out.len()) };
        let ours_event: Value = serde_json::from_str(&ours.body).unwrap();
        let theirs_event: Value = serde_json::from_str(&theirs.body).unwrap();
        // The caller's account keeps the full identity.
        assert_eq!(ours.account_id, "111122223333");
        assert_eq!(ours_event["userIdentity"]["userName"], "johndoe");
        assert_eq!(ours_event["userIdentity"]["accessKeyId"], "AKIAEXAMPLEKEY000001");
        assert_eq!(ours.username.as_deref(), Some("johndoe"));
        // The role owner's: exactly the three fields AWS writes.
        assert_eq!(theirs.account_id, "444455556666");
        assert_eq!(
            theirs_event["userIdentity"],
            serde_json::json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLEUSER00001", "accountId": "111122223333"})
        );
        assert_eq!(theirs_event["sharedEventID"], ours_event["sharedEventID"]);
        assert_eq!((theirs.username.as_deref(), theirs.access_key_id.as_deref()), (None, None));
        for leak in ["johndoe", "AKIAEXAMPLEKEY000001"] {
            assert!(!theirs.body.contains(leak), "{leak} in {}", theirs.body);
        }
    }

    #[test]
    fn read_only_and_durability() {
        assert!(is_read_only(Service::Sts, "AssumeRole"));
        assert!(is_read_only(Service::Iam, "ListUsers"));
        assert!(!is_read_only(Service::Iam, "CreateUser"));
        let mut n = Notes::default();
        assert!(!must_be_durable(Service::Sts, "GetCallerIdentity", &n));
        assert!(must_be_durable(Service::Iam, "DeleteRole", &n));
        n.credentials("AssumeRole", "ASIAEXAMPLE", 0);
        assert!(must_be_durable(Service::Sts, "AssumeRole", &n));
        assert_eq!(n.response.unwrap()["credentials"]["accessKeyId"], "ASIAEXAMPLE");
    }
}
