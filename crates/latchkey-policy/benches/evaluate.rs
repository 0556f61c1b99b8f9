//! Decision latency against a realistic identity policy set, the same decision
//! through `iam-rs` for comparison, and parse + validate + compile of a ~6 KB policy.
//!
//! Run with `cargo bench -p latchkey-policy`.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark set-up: fixed inputs that must parse"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_policy::{
    CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Request,
    Verdict, evaluate,
};

/// Ten statements over two policies: wildcards, variables, and the common guard
/// conditions (region, MFA, source IP, tags).
const POLICY_A: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadPhotos", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
     "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
    {"Sid": "OwnHome", "Effect": "Allow", "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::home/${aws:username}/*"},
    {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}},
    {"Sid": "Orders", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
     "Resource": "arn:aws:dynamodb:*:111122223333:table/orders*",
     "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "status"]}}},
    {"Sid": "MfaForDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
  ]
}"#;

const POLICY_B: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Regions", "Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
     "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}},
    {"Sid": "OwnKeys", "Effect": "Allow", "Action": ["iam:GetUser", "iam:*AccessKey*"],
     "Resource": "arn:aws:iam::111122223333:user/${aws:username}"},
    {"Sid": "Kms", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:111122223333:key/*",
     "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}},
    {"Sid": "Network", "Effect": "Deny", "Action": "*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                   "Bool": {"aws:ViaAWSService": "false"}}},
    {"Sid": "Logs", "Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/app/*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}
  ]
}"#;

const ACTION: &str = "s3:GetObject";
const RESOURCE: &str = "arn:aws:s3:::photos/2024/cat.jpg";
const CONTEXT: [(&str, &str); 8] = [
    ("aws:username", "alice"),
    ("aws:SourceIp", "10.1.2.3"),
    ("aws:RequestedRegion", "eu-west-1"),
    ("aws:MultiFactorAuthPresent", "true"),
    ("aws:ViaAWSService", "false"),
    ("aws:PrincipalTag/team", "blue"),
    ("aws:CurrentTime", "2024-06-01T12:00:00Z"),
    ("aws:SecureTransport", "true"),
];

fn six_kb_policy() -> String {
    let mut statements = Vec::new();
    let mut i = 0;
    loop {
        statements.push(format!(
            r#"{{"Sid":"S{i}","Effect":"{}","Action":["s3:Get*","s3:PutObject","ec2:Describe*","iam:*AccessKey*"],"Resource":["arn:aws:s3:::bucket-{i}/*","arn:aws:s3:::home/${{aws:username}}/{i}/*"],"Condition":{{"StringEquals":{{"aws:RequestedRegion":["eu-west-1","us-east-1"]}},"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#,
            if i % 4 == 3 { "Deny" } else { "Allow" }
        ));
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        );
        if latchkey_policy::policy_size(&text) > 5900 {
            return text;
        }
        i += 1;
    }
}

fn bench(c: &mut Criterion) {
    let a = CompiledPolicy::parse(POLICY_A, PolicyKind::Identity).unwrap();
    let b = CompiledPolicy::parse(POLICY_B, PolicyKind::Identity).unwrap();
    let refs = [
        PolicyRef {
            id: "team-a",
            policy: &a,
        },
        PolicyRef {
            id: "guards",
            policy: &b,
        },
    ];
    let set = PolicySet {
        identity: &refs,
        resource_account: "111122223333",
        ..PolicySet::default()
    };
    let mut ctx = Context::new();
    for (k, v) in CONTEXT {
        ctx.insert(k, v);
    }
    let req = Request {
        principal: Principal {
            arn: "arn:aws:iam::111122223333:user/alice",
            id: "",
            account: "111122223333",
            kind: PrincipalKind::User,
        },
        action: ACTION,
        resource: RESOURCE,
        context: &ctx,
    };
    assert_eq!(evaluate(&set, &req).verdict(), Verdict::Allow);

    let mut group = c.benchmark_group("decision");
    group.bench_function("latchkey", |bch| {
        bch.iter(|| evaluate(black_box(&set), black_box(&req)).verdict())
    });

    let policies = vec![
        iam_rs::IAMPolicy::from_json(POLICY_A).unwrap(),
        iam_rs::IAMPolicy::from_json(POLICY_B).unwrap(),
    ];
    let evaluator = iam_rs::PolicyEvaluator::with_policies(policies);
    let mut iam_ctx = iam_rs::Context::new();
    for (k, v) in CONTEXT {
        iam_ctx = iam_ctx.with_string(k, v);
    }
    let iam_req = iam_rs::IAMRequest::new_with_context(
        iam_rs::Principal::Aws(iam_rs::PrincipalId::String(
            "arn:aws:iam::111122223333:user/alice".into(),
        )),
        ACTION,
        iam_rs::Arn::parse(RESOURCE).unwrap(),
        iam_ctx,
    );
    let iam_decision = evaluator.evaluate(&iam_req).map(|r| r.decision);
    println!("iam-rs decision for the same request: {iam_decision:?}");
    group.bench_function("iam-rs", |bch| {
        bch.iter(|| evaluator.evaluate(black_box(&iam_req)).map(|r| r.decision))
    });
    group.finish();

    let big = six_kb_policy();
    println!(
        "parse benchmark document: {} bytes, {} counted characters",
        big.len(),
        latchkey_policy::policy_size(&big)
    );
    c.bench_function("parse+validate+compile 6KB", |bch| {
        bch.iter(|| CompiledPolicy::parse(black_box(&big), PolicyKind::Identity).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
