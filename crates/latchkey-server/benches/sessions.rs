//! The two hot paths of temporary credentials, without HTTP:
//! verifying a request signed with them (open the token, check SigV4), and
//! minting them (the trust-policy decision, the key and secret, sealing).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_model::{AccessKeyId, IdPrefix, KeyKind, Role, SecretAccessKey, UniqueId};
use latchkey_policy::Context;
use latchkey_server::authn::authenticate;
use latchkey_server::authz::{Request, decide};
use latchkey_server::state::{Snapshot, State};
use latchkey_server::{Clock, SystemClock, setup};
use latchkey_sigv4::{HttpRequest, SigningKeyCache, SigningParams, sign_headers};
use latchkey_store::Op;
use latchkey_token::{SessionClaims, SessionKind};

const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

fn fixture() -> (Arc<Snapshot>, tempfile::TempDir) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemClock.now();
        let opened = setup::open(dir.path(), now).await.unwrap();
        let account = opened.initialized.as_ref().unwrap().account;
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"ext-123"}}}}}}]}}"#
        );
        let role = Role {
            id: UniqueId::generate(IdPrefix::Role, &account),
            account,
            name: "bench".into(),
            path: "/".into(),
            trust_policy: trust,
            trust_principals: Some(Vec::new().into()),
            description: None,
            max_session_duration: 3600,
            created: now,
            tags: Vec::new(),
            permissions_boundary: None,
            last_used: None,
        };
        opened.store.apply(&[Op::InsertRole(role)]).await.unwrap();
        let state = State::load(opened.store).await.unwrap();
        state.rotate_token_keys(now, 86_400).await.unwrap();
        (state.snapshot(), dir)
    })
}

fn claims(account: &str, secret: &str, now: i64) -> SessionClaims {
    SessionClaims {
        account: account.to_owned(),
        kind: SessionKind::AssumedRole { role_id: "AROAEXAMPLEEXAMPLE123".into(), role_name: "bench".into(), role_path: "/".into() },
        session_name: "bench-session".into(),
        issued_at: now,
        expires_at: now + 3600,
        secret_access_key: secret.to_owned(),
        mfa_authenticated: false,
        mfa_auth_time: None,
        source_identity: None,
        session_policy: None,
        policy_arns: Vec::new(),
        tags: vec![("team".into(), "data".into())],
        transitive_tag_keys: Vec::new(),
        chained: false,
        source_arn: format!("arn:aws:iam::{account}:user/alice"),
        source_access_key_id: "AKIAEXAMPLEEXAMPLE12".into(),
    }
}

fn sessions(c: &mut Criterion) {
    let (snap, _dir) = fixture();
    let (account, acct_state) = snap.accounts.iter().next().unwrap();
    let account_text = account.to_string();
    let ring = snap.token_ring.clone().unwrap();
    let now = SystemClock.now();

    // A request signed with temporary credentials, as a client sends it.
    let key_id = AccessKeyId::generate(KeyKind::Temporary, account);
    let secret = SecretAccessKey::generate();
    let token = ring.seal(&claims(&account_text, secret.expose(), now), key_id.as_str()).unwrap();
    let mut headers: Vec<(&str, &[u8])> =
        vec![("host", b"localhost"), ("content-type", b"application/x-www-form-urlencoded; charset=utf-8")];
    let params = SigningParams::new(key_id.as_str(), secret.expose(), "us-east-1", "sts", now).with_session_token(&token);
    let unsigned = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body: BODY };
    let sig = sign_headers(&params, &unsigned).unwrap();
    let added: Vec<(String, String)> = sig.headers().iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let req = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body: BODY };
    let cache = SigningKeyCache::new(4096);
    let regions = latchkey_server::authn::regions::Regions::default();

    c.bench_function("verify a request made with temporary credentials (token + SigV4)", |b| {
        b.iter(|| {
            let signed = latchkey_sigv4::parse(black_box(&req)).unwrap().unwrap();
            black_box(authenticate(&snap, &cache, &regions, &req, &signed, now).unwrap());
        });
    });

    // Minting: the caller (a verified session here), the trust decision with
    // its context, then a new key, secret and sealed token.
    let signed = latchkey_sigv4::parse(&req).unwrap().unwrap();
    let caller = authenticate(&snap, &cache, &regions, &req, &signed, now).unwrap().caller;
    let role = acct_state.role("bench").unwrap();
    let role_arn = role.role.arn();
    c.bench_function("mint AssumeRole credentials (trust decision + seal)", |b| {
        b.iter(|| {
            let mut context = Context::new();
            context.insert("aws:PrincipalArn", caller.arn());
            context.insert("sts:ExternalId", "ext-123");
            context.insert("sts:RoleSessionName", "bench-session");
            let decision = decide(
                &snap,
                &caller,
                Request { action: "sts:AssumeRole", resource: &role_arn },
                Some((&role_arn, role.trust(), &account_text)),
                &context,
            );
            black_box(decision.is_ok());
            let key = AccessKeyId::generate(KeyKind::Temporary, account);
            let secret = SecretAccessKey::generate_temporary();
            black_box(ring.seal(&claims(&account_text, secret.expose(), now), key.as_str()).unwrap());
        });
    });
}

criterion_group!(benches, sessions);
criterion_main!(benches);
