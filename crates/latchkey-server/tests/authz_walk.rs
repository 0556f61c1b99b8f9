//! Every routed action is authorised: a user who holds no policy is refused
//! each one with AccessDenied (the actions of `authz::NO_PERMISSION_NEEDED`
//! aside, which AWS serves without a permission check), even when the
//! entity it names does not exist, and no refused call writes: the store's
//! version does not move.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test support outside #[test] functions: a failure should fail the test loudly"
)]

mod common;

use std::sync::Arc;

use latchkey_model::{AccessKey, AccessKeyId, AccessKeyOwner, IdPrefix, KeyKind, KeyStatus, SecretAccessKey, UniqueId, User};
use latchkey_server::protocol::Service;
use latchkey_server::state::State;
use latchkey_server::{App, Clock, ServiceConfig, SystemClock, api, setup};
use latchkey_sigv4::SigningParams;
use latchkey_store::{Op, Store};

struct Harness {
    app: Arc<App>,
    /// The store behind `app`, to read its version.
    store: Arc<dyn Store>,
    /// The root user's key and secret.
    root: (String, String),
    account: String,
    key: String,
    secret: String,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemClock.now();
    let opened = setup::open(dir.path(), now).await.unwrap();
    let initialized = opened.initialized.as_ref().unwrap();
    let account = initialized.account;
    let root = (initialized.access_key_id.to_string(), initialized.secret.expose().to_owned());
    let user = User {
        id: UniqueId::generate(IdPrefix::User, &account),
        account,
        name: "nobody".into(),
        path: "/".into(),
        created: now,
        tags: Vec::new(),
        permissions_boundary: None,
    };
    let key = AccessKey {
        id: AccessKeyId::generate(KeyKind::LongTerm, &account),
        account,
        owner: AccessKeyOwner::User(user.id.clone()),
        status: KeyStatus::Active,
        created: now,
    };
    let secret = SecretAccessKey::generate();
    opened.store.apply(&[Op::InsertUser(user), Op::InsertAccessKey(key.clone(), secret.clone())]).await.unwrap();
    let store = opened.store.clone();
    let state = State::load(opened.store).await.unwrap();
    state.rotate_token_keys(now, 86_400).await.unwrap();
    let app = App::new(state, Arc::new(SystemClock), ServiceConfig::default(), Arc::new(latchkey_audit::DiscardTrail));
    Harness { app, store, root, account: account.to_string(), key: key.id.to_string(), secret: secret.expose().to_owned(), _dir: dir }
}

async fn call(h: &Harness, service: Service, target: Option<String>, body: String) -> (u16, String) {
    call_as(h, (&h.key, &h.secret), service, target, body).await
}

async fn call_as(h: &Harness, (key, secret): (&str, &str), service: Service, target: Option<String>, body: String) -> (u16, String) {
    let mut headers_in: Vec<(&str, &[u8])> = vec![("host", b"localhost")];
    match &target {
        Some(t) => {
            headers_in.push(("content-type", b"application/x-amz-json-1.1"));
            headers_in.push(("x-amz-target", t.as_bytes()));
        }
        None => headers_in.push(("content-type", b"application/x-www-form-urlencoded; charset=utf-8")),
    }
    let params = SigningParams::new(key, secret, "us-east-1", service.signing_name(), SystemClock.now());
    common::signed_post(&h.app, &params, &headers_in, body).await
}

/// Parameters that pass every action's validation and name nothing that exists.
fn params(account: &str) -> Vec<(&'static str, String)> {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    vec![
        ("UserName", "ghost".into()),
        ("RoleArn", format!("arn:aws:iam::{account}:role/ghost")),
        ("RoleSessionName", "walker".into()),
        ("Name", "walker".into()),
        ("Url", "https://ghost.example.com".into()),
        ("ClientID", "ghost".into()),
        ("OpenIDConnectProviderArn", format!("arn:aws:iam::{account}:oidc-provider/ghost.example.com")),
        ("SAMLProviderArn", format!("arn:aws:iam::{account}:saml-provider/ghost")),
        ("SAMLMetadataDocument", format!("<EntityDescriptor>{}</EntityDescriptor>", "x".repeat(1000))),
        ("PolicySourceArn", format!("arn:aws:iam::{account}:user/ghost")),
        ("ActionNames.member.1", "iam:GetUser".into()),
        ("PolicyInputList.member.1", doc.into()),
        ("EncodedMessage", "bm90LWEtbWVzc2FnZQ".into()),
        ("VirtualMFADeviceName", "ghost".into()),
        ("SerialNumber", format!("arn:aws:iam::{account}:mfa/ghost")),
        ("AuthenticationCode1", "123456".into()),
        ("AuthenticationCode2", "654321".into()),
        ("GroupName", "ghost".into()),
        ("RoleName", "ghost".into()),
        ("PolicyName", "ghost".into()),
        ("PolicyArn", format!("arn:aws:iam::{account}:policy/ghost")),
        ("PermissionsBoundary", format!("arn:aws:iam::{account}:policy/ghost")),
        ("PolicyDocument", doc.into()),
        ("AssumeRolePolicyDocument", trust),
        ("AccessKeyId", "AKIAAAAAAAAAAAAAAAAA".into()),
        ("Status", "Active".into()),
        ("VersionId", "v1".into()),
        ("Tags.member.1.Key", "k".into()),
        ("Tags.member.1.Value", "v".into()),
        ("TagKeys.member.1", "k".into()),
    ]
}

fn body(action: &str, service: Service, account: &str) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action).append_pair("Version", service.query_version());
    for (k, v) in params(account) {
        form.append_pair(k, &v);
    }
    form.finish()
}

#[tokio::test]
async fn every_routed_action_is_authorised() {
    let h = harness().await;
    let version = h.store.version().await.unwrap();
    let mut checked = 0;
    let mut free_walked = Vec::new();
    for (service, actions) in [(Service::Iam, api::iam::ACTIONS), (Service::Sts, api::sts::ACTIONS)] {
        for action in actions {
            // AWS serves these without a permission check: called bare,
            // they succeed (and write nothing either).
            let qualified = format!("{}:{action}", service.signing_name());
            let free = latchkey_server::authz::NO_PERMISSION_NEEDED.contains(&qualified.as_str());
            if free {
                free_walked.push(qualified);
            }
            let body = if free {
                format!("Action={action}&Version={}", service.query_version())
            } else {
                body(action, service, &h.account)
            };
            let (status, text) = call(&h, service, None, body).await;
            if free {
                assert_eq!(status, 200, "{action}: {text}");
            } else {
                assert_eq!(status, 403, "{action} was not refused: {text}");
                assert!(text.contains("<Code>AccessDenied</Code>"), "{action}: {text}");
                assert!(text.contains("is not authorized to perform"), "{action}: {text}");
            }
            assert_eq!(h.store.version().await.unwrap(), version, "{action} wrote to the store");
            checked += 1;
        }
    }
    let organizations = serde_json::json!({
        "Email": "ghost@example.com", "AccountName": "ghost", "CreateAccountRequestId": "car-0000",
        "AccountId": "000000000001", "Content": "{}", "Name": "ghost", "Type": "SERVICE_CONTROL_POLICY",
        "Description": "", "PolicyId": "p-0000", "TargetId": "000000000001", "Filter": "SERVICE_CONTROL_POLICY",
    });
    let cloudtrail = serde_json::json!({});
    for (service, actions, json_params) in
        [(Service::Organizations, api::organizations::ACTIONS, &organizations), (Service::CloudTrail, api::cloudtrail::ACTIONS, &cloudtrail)]
    {
        for action in actions {
            let qualified = format!("{}:{action}", service.signing_name());
            assert!(!latchkey_server::authz::NO_PERMISSION_NEEDED.contains(&qualified.as_str()), "{qualified} is not walked bare");
            let target = format!("{}{action}", service.json_target_prefix());
            let (status, text) = call(&h, service, Some(target), json_params.to_string()).await;
            assert_eq!(status, 403, "{action} was not refused: {text}");
            assert!(text.contains("AccessDeniedException"), "{action}: {text}");
            assert_eq!(h.store.version().await.unwrap(), version, "{action} wrote to the store");
            checked += 1;
        }
    }
    // Every action that needs no permission was walked, bare (and so is routed).
    let mut listed: Vec<String> = latchkey_server::authz::NO_PERMISSION_NEEDED.iter().map(|a| (*a).to_owned()).collect();
    listed.sort();
    free_walked.sort();
    assert_eq!(free_walked, listed);
    assert!(checked > 70, "only {checked} actions walked");
    // The version check has teeth: a write that is allowed moves it.
    let body = format!("Action=CreateGroup&Version={}&GroupName=walkers", Service::Iam.query_version());
    let (status, text) = call_as(&h, (&h.root.0, &h.root.1), Service::Iam, None, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(h.store.version().await.unwrap() > version, "an allowed write did not move the store's version");
}

/// GetUser without UserName, by root: AWS describes the root user (by its
/// account id and root ARN), and the call is decided like any other.
#[tokio::test]
async fn root_describes_itself() {
    let h = harness().await;
    let body = format!("Action=GetUser&Version={}", Service::Iam.query_version());
    let (status, text) = call_as(&h, (&h.root.0, &h.root.1), Service::Iam, None, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("<UserId>{}</UserId>", h.account)), "{text}");
    assert!(text.contains(&format!("<Arn>arn:aws:iam::{}:root</Arn>", h.account)), "{text}");
}
