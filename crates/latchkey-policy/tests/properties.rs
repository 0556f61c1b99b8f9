//! Property tests: monotonicity of deny and allow, the wildcard matcher against a
//! naive reference, and a parser that never panics.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: indices come from ranges over the same tables, and a failure must abort loudly"
)]

use latchkey_policy::{
    CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Request,
    Verdict, evaluate, parse, wildcard_match,
};
use proptest::prelude::*;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "iam:*",
    "*",
    "ec2:Describe?nstances",
    "iam:CreateUser",
    "s3:Put*",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::photos/*",
    "arn:aws:s3:::photos/2024/cat.jpg",
    "arn:aws:s3:::logs/*",
    "arn:aws:iam::111122223333:user/*",
    "arn:aws:s3:::home/${aws:username}/*",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":"blue"}}"#,
    r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["env*"]}}"#,
    r#","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
];
const REQ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "iam:CreateUser",
    "ec2:DescribeInstances",
    "sts:AssumeRole",
];
const REQ_RESOURCES: &[&str] = &[
    "arn:aws:s3:::photos/2024/cat.jpg",
    "arn:aws:s3:::logs/a",
    "arn:aws:iam::111122223333:user/bob",
    "arn:aws:s3:::home/alice/x",
    "*",
];

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_action: bool,
    action: usize,
    not_resource: bool,
    resource: usize,
    condition: usize,
}

impl Stmt {
    fn json(&self) -> String {
        format!(
            r#"{{"Effect":"{}","{}":"{}","{}":"{}"{}}}"#,
            if self.deny { "Deny" } else { "Allow" },
            if self.not_action {
                "NotAction"
            } else {
                "Action"
            },
            ACTIONS[self.action],
            if self.not_resource {
                "NotResource"
            } else {
                "Resource"
            },
            RESOURCES[self.resource],
            CONDITIONS[self.condition],
        )
    }
}

fn stmt() -> impl Strategy<Value = Stmt> + Clone {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        0..ACTIONS.len(),
        prop::bool::weighted(0.2),
        0..RESOURCES.len(),
        0..CONDITIONS.len(),
    )
        .prop_map(
            |(deny, not_action, action, not_resource, resource, condition)| Stmt {
                deny,
                not_action,
                action,
                not_resource,
                resource,
                condition,
            },
        )
}

fn compile(stmts: &[Stmt], kind: PolicyKind) -> CompiledPolicy {
    let body: Vec<String> = stmts.iter().map(Stmt::json).collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    );
    CompiledPolicy::parse(&text, kind).unwrap()
}

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Vec<Stmt>>,
    boundary: Option<Vec<Stmt>>,
    session: Option<Vec<Stmt>>,
    action: usize,
    resource: usize,
    team: Option<&'static str>,
    ip: &'static str,
    tags: Vec<&'static str>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let policy = || prop::collection::vec(stmt(), 1..4);
    (
        prop::collection::vec(policy(), 0..3),
        prop::option::of(policy()),
        prop::option::of(policy()),
        0..REQ_ACTIONS.len(),
        0..REQ_RESOURCES.len(),
        prop::option::of(prop::sample::select(vec!["blue", "red"])),
        prop::sample::select(vec!["10.1.2.3", "192.168.1.1"]),
        prop::collection::vec(prop::sample::select(vec!["env", "envx", "cost"]), 0..3),
    )
        .prop_map(
            |(identity, boundary, session, action, resource, team, ip, tags)| Scenario {
                identity,
                boundary,
                session,
                action,
                resource,
                team,
                ip,
                tags,
            },
        )
}

fn verdict(s: &Scenario) -> Verdict {
    let identity: Vec<CompiledPolicy> = s
        .identity
        .iter()
        .map(|p| compile(p, PolicyKind::Identity))
        .collect();
    let boundary = s
        .boundary
        .as_ref()
        .map(|p| compile(p, PolicyKind::Boundary));
    let session = s.session.as_ref().map(|p| compile(p, PolicyKind::Session));
    let identity_refs: Vec<PolicyRef<'_>> = identity
        .iter()
        .map(|p| PolicyRef { id: "i", policy: p })
        .collect();
    let session_refs: Option<Vec<PolicyRef<'_>>> = session
        .as_ref()
        .map(|p| vec![PolicyRef { id: "s", policy: p }]);
    let set = PolicySet {
        identity: &identity_refs,
        boundary: boundary.as_ref().map(|p| PolicyRef { id: "b", policy: p }),
        session: session_refs.as_deref(),
        resource_account: "111122223333",
        ..PolicySet::default()
    };
    let mut ctx = Context::new()
        .with("aws:username", "alice")
        .with("aws:SourceIp", s.ip);
    if let Some(team) = s.team {
        ctx.insert("aws:PrincipalTag/team", team);
    }
    ctx.insert_multi("aws:TagKeys", s.tags.iter().copied());
    let req = Request {
        principal: Principal {
            arn: "arn:aws:sts::111122223333:assumed-role/app/s",
            id: "",
            account: "111122223333",
            kind: PrincipalKind::AssumedRole {
                role_arn: "arn:aws:iam::111122223333:role/app",
            },
        },
        action: REQ_ACTIONS[s.action],
        resource: REQ_RESOURCES[s.resource],
        context: &ctx,
    };
    evaluate(&set, &req).verdict()
}

/// Where an extra statement goes: an identity policy, the boundary or the session policy.
fn add(s: &Scenario, extra: Stmt, slot: usize) -> Scenario {
    let mut s = s.clone();
    match slot % 3 {
        0 if !s.identity.is_empty() => {
            let n = s.identity.len();
            s.identity[slot % n].push(extra);
        }
        1 if s.boundary.is_some() => s.boundary.as_mut().unwrap().push(extra),
        2 if s.session.is_some() => s.session.as_mut().unwrap().push(extra),
        _ => s.identity.push(vec![extra]),
    }
    s
}

/// The reference: plain recursion over the pattern, exponential but obviously right.
fn naive(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => naive(&p[1..], t) || (!t.is_empty() && naive(p, &t[1..])),
        (Some('?'), Some(_)) => naive(&p[1..], &t[1..]),
        (Some(c), Some(d)) if c == d => naive(&p[1..], &t[1..]),
        _ => false,
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "2012-10-17",
            "Allow",
            "Deny",
            "*",
            "s3:GetObject",
            "arn:aws:s3:::b/*",
            "123456789012",
            "StringEquals",
            "aws:SourceIp",
            "10.0.0.0/8",
            "${aws:username}",
            "",
            "x",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop::sample::select(vec![
            "Version",
            "Statement",
            "Id",
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "NotPrincipal",
            "Condition",
            "AWS",
            "Service",
            "Federated",
            "StringEquals",
            "ForAnyValue:StringLike",
            "DateLessThan",
            "aws:TagKeys",
            "Null",
            "Bogus",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys, inner), 0..5).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

const KINDS: [PolicyKind; 6] = [
    PolicyKind::Identity,
    PolicyKind::Trust,
    PolicyKind::Resource,
    PolicyKind::Session,
    PolicyKind::Boundary,
    PolicyKind::ServiceControl,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn adding_a_deny_never_allows(s in scenario(), mut extra in stmt(), slot in 0usize..6) {
        extra.deny = true;
        let before = verdict(&s);
        let after = verdict(&add(&s, extra, slot));
        prop_assert!(before == Verdict::Allow || after != Verdict::Allow, "{before:?} -> {after:?}");
    }

    #[test]
    fn adding_an_allow_never_denies(s in scenario(), mut extra in stmt(), slot in 0usize..6) {
        extra.deny = false;
        let before = verdict(&s);
        let after = verdict(&add(&s, extra, slot));
        prop_assert!(before != Verdict::Allow || after == Verdict::Allow, "{before:?} -> {after:?}");
    }

    #[test]
    fn wildcard_matcher_agrees_with_reference(p in "[ab*?é]{0,8}", t in "[abé]{0,10}") {
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        prop_assert_eq!(wildcard_match(&p, &t), naive(&pc, &tc));
    }

    #[test]
    fn wildcard_matcher_agrees_on_arn_like_text(p in "(arn:aws:s3:::|[a-z/:]|\\*|\\?){0,10}", t in "arn:aws:s3:::[a-z/:]{0,12}") {
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        prop_assert_eq!(wildcard_match(&p, &t), naive(&pc, &tc));
    }

    #[test]
    fn parse_never_panics_on_strings(text in "\\PC{0,200}", k in 0usize..6) {
        let _ = parse(&text, KINDS[k]);
    }

    #[test]
    fn parse_never_panics_on_json(v in json_value(), k in 0usize..6) {
        let text = v.to_string();
        if let Ok(p) = parse(&text, KINDS[k]) {
            // Whatever parses also compiles and evaluates.
            let c = CompiledPolicy::new(&p);
            let ctx = Context::new();
            let refs = [PolicyRef { id: "p", policy: &c }];
            let set = PolicySet { identity: &refs, resource: Some(refs[0]), ..PolicySet::default() };
            let req = Request {
                principal: Principal { arn: "arn:aws:iam::123456789012:user/u", id: "", account: "123456789012", kind: PrincipalKind::User },
                action: "s3:GetObject",
                resource: "arn:aws:s3:::b/k",
                context: &ctx,
            };
            let _ = evaluate(&set, &req);
        }
    }
}
