//! The CloudTrail record, as AWS documents its fields, and the row it is
//! stored as.
//!
//! What never goes in: secret access keys, session tokens, MFA codes,
//! passwords, signatures. The builder in the server decides what to put in
//! `requestParameters` and `responseElements`; this module only shapes it.

use serde::Serialize;

/// `eventVersion` written by this implementation.
pub const EVENT_VERSION: &str = "1.08";

/// One CloudTrail event, serialised with CloudTrail's field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `1.08`.
    pub event_version: &'static str,
    /// Who made the call.
    pub user_identity: UserIdentity,
    /// `2026-11-23T15:04:05Z`.
    pub event_time: String,
    /// `sts.amazonaws.com`, `iam.amazonaws.com`, …
    pub event_source: &'static str,
    /// The action.
    pub event_name: String,
    /// The region of the credential scope.
    pub aws_region: String,
    /// The caller's address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The AWS error code of a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters (secrets hidden), or `null`.
    pub request_parameters: Option<serde_json::Value>,
    /// What the call returned that is safe to keep, or `null`.
    pub response_elements: Option<serde_json::Value>,
    /// The `x-amzn-RequestId` of the response.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// This record's id; unique per record, also across accounts.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the call only reads.
    pub read_only: bool,
    /// Resources the call touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall`.
    pub event_type: &'static str,
    /// True for IAM, STS, Organizations and CloudTrail calls; false for
    /// S3's data events.
    pub management_event: bool,
    /// The account whose trail holds this record.
    pub recipient_account_id: String,
    /// The id shared by the records of one cross-account call.
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    pub shared_event_id: Option<String>,
    /// `Management`, or `Data` for S3 object and bucket calls.
    pub event_category: &'static str,
    /// `additionalEventData`: S3's signing details, and latchkey's
    /// explanation of a refused S3 call (S3 answers with no encoded
    /// message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<serde_json::Value>,
}

/// `userIdentity`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `FederatedUser`, `AWSAccount`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The unique id (`AIDA…`, `AROA…:session`, the account id for root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The principal's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Its account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key that signed the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The IAM user's name (IAM users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Present for temporary credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role or user that issued the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    /// When and how the session was created.
    pub attributes: SessionAttributes,
    /// The session's source identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// `sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role`, `IAMUser` or `Root`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its unique id.
    pub principal_id: String,
    /// Its ARN.
    pub arn: String,
    /// Its account.
    pub account_id: String,
    /// The role's or user's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// `sessionContext.attributes`. CloudTrail writes the boolean as a string.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    /// When the session was issued.
    pub creation_date: String,
    /// `"true"` or `"false"`.
    pub mfa_authenticated: &'static str,
}

/// An entry of the record's `resources`.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// The resource's account.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// `AWS::IAM::Role`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// A `Resources` entry of a LookupEvents result: type and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LookupResource {
    /// `AWS::IAM::Role`, `AWS::IAM::AccessKey`, `AWS::STS::AssumedRole`, …
    #[serde(rename = "ResourceType")]
    pub kind: String,
    /// An ARN, a name or an access key id.
    #[serde(rename = "ResourceName")]
    pub name: String,
}

/// A record as stored: the columns lookups filter on, and the event's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `eventID`.
    pub event_id: String,
    /// Unix seconds.
    pub event_time: i64,
    /// The trail's account (`recipientAccountId`).
    pub account_id: String,
    /// `eventName`.
    pub event_name: String,
    /// `eventSource`.
    pub event_source: String,
    /// LookupEvents' `Username`.
    pub username: Option<String>,
    /// The signing access key.
    pub access_key_id: Option<String>,
    /// `readOnly`.
    pub read_only: bool,
    /// LookupEvents' `Resources`.
    pub resources: Vec<LookupResource>,
    /// Further names a `ResourceName` lookup matches (a session's source
    /// identity), beyond those of `resources`.
    pub extra_names: Vec<String>,
    /// The CloudTrail event JSON (LookupEvents' `CloudTrailEvent`).
    pub body: String,
}

impl Record {
    /// The row for `event`, with LookupEvents' `username` and `resources`.
    pub fn new(
        event: &Event,
        event_time: i64,
        username: Option<String>,
        resources: Vec<LookupResource>,
        extra_names: Vec<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id: event.event_id.clone(),
            event_time,
            account_id: event.recipient_account_id.clone(),
            event_name: event.event_name.clone(),
            event_source: event.event_source.to_owned(),
            username,
            access_key_id: event.user_identity.access_key_id.clone(),
            read_only: event.read_only,
            resources,
            extra_names,
            body: serde_json::to_string(event)?,
        })
    }
}

impl Record {
    /// The `names` search column: every resource name and extra name.
    pub(crate) fn name_terms(&self) -> String {
        wrap_terms(self.resources.iter().map(|x| x.name.as_str()).chain(self.extra_names.iter().map(String::as_str)))
    }

    /// The `types` search column: every resource type.
    pub(crate) fn type_terms(&self) -> String {
        wrap_terms(self.resources.iter().map(|x| x.kind.as_str()))
    }

    /// LookupEvents' `Resources`, as stored: JSON.
    pub(crate) fn resources_json(&self) -> String {
        serde_json::to_string(&self.resources).unwrap_or_else(|_| "[]".to_owned())
    }
}

/// `\n`-wrapped terms, so that `instr(col, '\n' || term || '\n')` matches
/// whole terms only.
pub(crate) fn wrap_terms<'a>(terms: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("\n");
    for t in terms {
        // A term holding the separator could fake a match; such names are
        // not valid AWS names anyway.
        if !t.contains('\n') {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_cloudtrail_names() {
        let e = Event {
            event_version: EVENT_VERSION,
            user_identity: UserIdentity {
                kind: "IAMUser",
                principal_id: Some("AIDAEXAMPLE".into()),
                arn: Some("arn:aws:iam::111122223333:user/alice".into()),
                account_id: Some("111122223333".into()),
                access_key_id: Some("AKIAEXAMPLE".into()),
                user_name: Some("alice".into()),
                session_context: None,
            },
            event_time: "2026-11-23T00:00:00Z".into(),
            event_source: "sts.amazonaws.com",
            event_name: "AssumeRole".into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: "test".into(),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            request_id: "r".into(),
            event_id: "e".into(),
            read_only: true,
            resources: vec![],
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: "111122223333".into(),
            shared_event_id: None,
            event_category: "Management",
            additional_event_data: None,
        };
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(v["userIdentity"]["type"], "IAMUser");
        assert_eq!(v["sourceIPAddress"], "127.0.0.1");
        assert_eq!(v["requestID"], "r");
        assert_eq!(v["eventID"], "e");
        assert!(v["requestParameters"].is_null());
        assert!(v.get("errorCode").is_none());
        assert!(v.get("sharedEventID").is_none());
    }

    #[test]
    fn terms_are_whole() {
        assert_eq!(wrap_terms(["a", "b\nc", "d"].into_iter()), "\na\nd\n");
    }
}
