//! Seal and open of a typical session (assumed role, two tags, no session
//! policy), plus the 2048-character session policy case that compresses.
//!
//! `seal/*` and `open/*` are wall-clock times. On a shared machine they
//! include time the thread spent descheduled, so `cpu/*` repeats the
//! typical case timed with the thread's CPU clock. `getrandom/12_bytes` is
//! the nonce draw every seal makes; subtract it for the codec's own cost.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark whose setup or measured call fails must abort, not be measured"
)]

use std::hint::black_box;

use cpu_time::ThreadTime;
use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_token::{KeyRing, SessionClaims, SessionKind, TokenKey};

const NOW: i64 = 1_700_000_000;
const AKID: &str = "ASIAQ3EGUWTBOH2ZWL7K";

fn typical() -> SessionClaims {
    SessionClaims {
        account: "123456789012".into(),
        kind: SessionKind::AssumedRole {
            role_id: "AROAQ3EGUWTBHXMPLE123".into(),
            role_name: "deploy-production".into(),
            role_path: "/service-role/".into(),
        },
        session_name: "github-actions-run-8841".into(),
        issued_at: NOW,
        expires_at: NOW + 3600,
        secret_access_key: "Zk8w9pQ+2hD1Lr7mT0bXvN4sYcJ6aE3uG5iK/oWq".into(),
        mfa_authenticated: false,
        mfa_auth_time: None,
        source_identity: None,
        session_policy: None,
        policy_arns: vec![],
        tags: vec![
            ("team".into(), "platform".into()),
            ("env".into(), "production".into()),
        ],
        transitive_tag_keys: vec![],
        chained: false,
        source_arn: "arn:aws:iam::123456789012:user/ci/github-actions".into(),
        source_access_key_id: "AKIAQ3EGUWTBA7XMPLE1".into(),
    }
}

fn with_policy() -> SessionClaims {
    let stmt = |i: usize| {
        format!(
            r#"{{"Sid":"S{i}","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket-{i}/prefix/*"}}"#
        )
    };
    let mut policy = String::from(r#"{"Version":"2012-10-17","Statement":["#);
    let mut i = 0;
    while policy.len() < 2048 {
        policy.push_str(&stmt(i));
        policy.push(',');
        i += 1;
    }
    policy.truncate(2048);
    SessionClaims {
        session_policy: Some(policy),
        ..typical()
    }
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::new(vec![
        TokenKey::generate(1, NOW - 86_400),
        TokenKey::generate(2, NOW),
    ])
    .unwrap();
    for (name, claims) in [("typical", typical()), ("policy_2048", with_policy())] {
        let token = ring.seal(&claims, AKID).unwrap();
        c.bench_function(&format!("seal/{name}"), |b| {
            b.iter(|| ring.seal(black_box(&claims), black_box(AKID)).unwrap());
        });
        c.bench_function(&format!("open/{name}"), |b| {
            b.iter(|| ring.open(black_box(&token), black_box(AKID)).unwrap());
        });
    }
    let mut nonce = [0u8; 12];
    c.bench_function("getrandom/12_bytes", |b| {
        b.iter(|| getrandom::fill(black_box(&mut nonce)).unwrap())
    });

    let claims = typical();
    let token = ring.seal(&claims, AKID).unwrap();
    c.bench_function("cpu/seal/typical", |b| {
        b.iter_custom(|iters| {
            let start = ThreadTime::now();
            for _ in 0..iters {
                black_box(ring.seal(black_box(&claims), black_box(AKID)).unwrap());
            }
            start.elapsed()
        });
    });
    c.bench_function("cpu/open/typical", |b| {
        b.iter_custom(|iters| {
            let start = ThreadTime::now();
            for _ in 0..iters {
                black_box(ring.open(black_box(&token), black_box(AKID)).unwrap());
            }
            start.elapsed()
        });
    });
    c.bench_function("cpu/getrandom/12_bytes", |b| {
        b.iter_custom(|iters| {
            let start = ThreadTime::now();
            for _ in 0..iters {
                getrandom::fill(black_box(&mut nonce)).unwrap();
            }
            start.elapsed()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
