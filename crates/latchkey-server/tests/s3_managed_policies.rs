//! The AWS-managed S3 policies through IAM, as root calls it: described with
//! AWS's version ids and dates, listed with AWS's other policies, their
//! default version readable, attachable to a role.

#![allow(clippy::unwrap_used, reason = "test support: a failure should fail the test loudly")]

mod common;

use std::sync::Arc;

use latchkey_server::protocol::Service;
use latchkey_server::state::State;
use latchkey_server::{App, Clock, ServiceConfig, SystemClock, setup};
use latchkey_sigv4::SigningParams;

struct Root {
    app: Arc<App>,
    key: (String, String),
    account: String,
    _dir: tempfile::TempDir,
}

async fn root() -> Root {
    let dir = tempfile::tempdir().unwrap();
    let opened = setup::open(dir.path(), SystemClock.now()).await.unwrap();
    let initialized = opened.initialized.as_ref().unwrap();
    let key = (initialized.access_key_id.to_string(), initialized.secret.expose().to_owned());
    let account = initialized.account.to_string();
    let state = State::load(opened.store).await.unwrap();
    state.check_refreshes(true);
    let app = App::new(state, Arc::new(SystemClock), ServiceConfig::default(), Arc::new(latchkey_audit::DiscardTrail));
    Root { app, key, account, _dir: dir }
}

async fn iam(r: &Root, pairs: &[(&str, &str)]) -> (u16, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", Service::Iam.query_version());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    let headers: Vec<(&str, &[u8])> =
        vec![("host", b"localhost"), ("content-type", b"application/x-www-form-urlencoded; charset=utf-8")];
    let params = SigningParams::new(&r.key.0, &r.key.1, "us-east-1", "iam", SystemClock.now());
    common::signed_post(&r.app, &params, &headers, form.finish()).await
}

const READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
const FULL: &str = "arn:aws:iam::aws:policy/AmazonS3FullAccess";

#[tokio::test]
async fn the_s3_managed_policies_are_described_listed_read_and_attached() {
    let r = root().await;

    let (status, text) = iam(&r, &[("Action", "GetPolicy"), ("PolicyArn", READ_ONLY)]).await;
    assert_eq!(status, 200, "{text}");
    for part in [
        "<PolicyName>AmazonS3ReadOnlyAccess</PolicyName>",
        "<DefaultVersionId>v3</DefaultVersionId>",
        "<Path>/</Path>",
        "<Description>Provides read only access to all buckets via the AWS Management Console.</Description>",
        "<CreateDate>2015-02-06T18:40:59Z</CreateDate>",
        "<UpdateDate>2023-08-10T21:31:39Z</UpdateDate>",
    ] {
        assert!(text.contains(part), "{part} missing: {text}");
    }
    let (status, text) = iam(&r, &[("Action", "GetPolicy"), ("PolicyArn", FULL)]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<DefaultVersionId>v2</DefaultVersionId>"), "{text}");
    assert!(text.contains("<UpdateDate>2021-09-27T20:16:37Z</UpdateDate>"), "{text}");

    let (status, text) = iam(&r, &[("Action", "GetPolicyVersion"), ("PolicyArn", READ_ONLY), ("VersionId", "v3")]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<IsDefaultVersion>true</IsDefaultVersion>") && text.contains("s3-object-lambda%3AList%2A"), "{text}");
    let (status, text) = iam(&r, &[("Action", "GetPolicyVersion"), ("PolicyArn", READ_ONLY), ("VersionId", "v1")]).await;
    assert_eq!(status, 404, "only the default version is known: {text}");
    let (status, text) = iam(&r, &[("Action", "ListPolicyVersions"), ("PolicyArn", FULL)]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>"), "{text}");

    let (status, text) = iam(&r, &[("Action", "ListPolicies"), ("Scope", "AWS")]).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text.matches("<member>").count(), 7, "AWS's five first policies and the two S3 ones: {text}");
    assert!(text.contains("<PolicyName>AmazonS3FullAccess</PolicyName>"), "{text}");

    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
        r.account
    );
    let (status, text) = iam(&r, &[("Action", "CreateRole"), ("RoleName", "reader"), ("AssumeRolePolicyDocument", &trust)]).await;
    assert_eq!(status, 200, "{text}");
    for arn in [READ_ONLY, FULL] {
        let (status, text) = iam(&r, &[("Action", "AttachRolePolicy"), ("RoleName", "reader"), ("PolicyArn", arn)]).await;
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = iam(&r, &[("Action", "ListAttachedRolePolicies"), ("RoleName", "reader")]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(READ_ONLY) && text.contains(FULL), "{text}");
    let (status, text) = iam(&r, &[("Action", "GetPolicy"), ("PolicyArn", FULL)]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<AttachmentCount>1</AttachmentCount>"), "{text}");

    // The role's effective policies hold them, compiled.
    let snap = r.app.state.snapshot();
    let acct = snap.account(&r.account.parse().unwrap()).unwrap();
    let role = acct.role("reader").unwrap();
    let effective = acct.effective(&role.role.id).unwrap();
    let ids: Vec<&str> = effective.identity.iter().map(|p| &*p.id).collect();
    assert_eq!(ids, [READ_ONLY, FULL]);
}
