//! Two nodes on one store: a token sealed with a session-token key that one
//! node created a moment ago verifies on the other at the first request,
//! before that node has reloaded its snapshot.

#![allow(clippy::unwrap_used, reason = "test support: a failure should fail the test loudly")]

mod common;

use std::sync::Arc;

use latchkey_model::{AccessKeyId, KeyKind, SecretAccessKey};
use latchkey_server::state::State;
use latchkey_server::{App, Clock, ServiceConfig, SystemClock, setup};
use latchkey_sigv4::SigningParams;
use latchkey_token::{SessionClaims, SessionKind};

#[tokio::test]
async fn a_token_from_a_key_another_node_just_created_verifies_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemClock.now();
    let opened = setup::open(dir.path(), now).await.unwrap();
    let account = opened.initialized.as_ref().unwrap().account;
    let node_a = State::load(opened.store.clone()).await.unwrap();
    node_a.rotate_token_keys(now, 86_400).await.unwrap();

    // Node B loads the store now: it knows key 1 only.
    let node_b = State::load(opened.store.clone()).await.unwrap();
    let app_b = App::new(node_b, Arc::new(SystemClock), ServiceConfig::default(), Arc::new(latchkey_audit::DiscardTrail));
    assert_eq!(app_b.state.snapshot().token_ring.as_ref().unwrap().current_id(), 1);

    // Node A rotates (its clock says the period is over) and seals with key 2.
    node_a.rotate_token_keys(now + 90_000, 86_400).await.unwrap();
    let ring_a = node_a.snapshot().token_ring.clone().unwrap();
    assert_eq!(ring_a.current_id(), 2);
    let key_id = AccessKeyId::generate(KeyKind::Temporary, &account);
    let secret = SecretAccessKey::generate_temporary();
    let claims = SessionClaims {
        account: account.to_string(),
        kind: SessionKind::SessionToken { user: None },
        session_name: String::new(),
        issued_at: now,
        expires_at: now + 3600,
        secret_access_key: secret.expose().to_owned(),
        mfa_authenticated: false,
        mfa_auth_time: None,
        source_identity: None,
        session_policy: None,
        policy_arns: Vec::new(),
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        chained: false,
        source_arn: format!("arn:aws:iam::{account}:root"),
        source_access_key_id: "AKIAEXAMPLE".into(),
    };
    let token = ring_a.seal(&claims, key_id.as_str()).unwrap();

    // Node B has not reloaded: the request itself makes it catch up.
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let headers_in: Vec<(&str, &[u8])> =
        vec![("host", b"localhost"), ("content-type", b"application/x-www-form-urlencoded; charset=utf-8")];
    let params = SigningParams::new(key_id.as_str(), secret.expose(), "us-east-1", "sts", now).with_session_token(&token);
    let (status, text) = common::signed_post(&app_b, &params, &headers_in, body.to_owned()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("<Arn>arn:aws:iam::{account}:root</Arn>")), "{text}");
}
