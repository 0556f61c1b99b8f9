//! The trust-policy decision matrix: {same account, cross account} × what the
//! role's trust policy says about the caller × what the caller's identity
//! policies say × a permissions boundary or none, for a user and for a role
//! session. Every cell's answer is derived in [`expected`] from AWS's
//! documentation, never from the engine.
//!
//! A trust-policy hole once shipped because no test combined "the trust
//! policy does not allow" with "the identity policy allows"; this file is
//! that combination, and every other one.

#![expect(clippy::expect_used, reason = "test code: a broken fixture should stop the test")]

use latchkey_policy::{
    CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, PolicyType, Principal,
    PrincipalKind, Reason, Request, Verdict, evaluate, explain,
};

const A: &str = "111111111111";
const B: &str = "222222222222";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The role is in the caller's account.
    Same,
    /// The role is in another account.
    Cross,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// `"AWS": "arn:aws:iam::A:user/alice"` (the caller, a user).
    NamesUser,
    /// `"AWS": "arn:aws:sts::A:assumed-role/src/s1"` (the caller, a session).
    NamesSession,
    /// `"AWS": "arn:aws:iam::A:role/src"` (the role behind the calling session).
    NamesRole,
    /// `"AWS": "arn:aws:iam::A:root"`.
    NamesAccount,
    /// `"AWS": "arn:aws:iam::A:user/bob"`.
    NamesSomeoneElse,
    /// Names the caller, under `StringEquals sts:ExternalId` that the request lacks.
    FalseCondition,
    /// Allows the account, and denies the caller by ARN.
    DeniesCaller,
    /// Allows the caller, and denies the caller's account.
    DeniesAccount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// `Allow sts:AssumeRole on *`.
    Allows,
    /// Allows something else only.
    Silent,
    /// `Deny sts:AssumeRole on *` beside an allow of everything.
    Denies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    User,
    Session,
}

const USER: &str = "arn:aws:iam::111111111111:user/alice";
const SESSION: &str = "arn:aws:sts::111111111111:assumed-role/src/s1";
const SOURCE_ROLE: &str = "arn:aws:iam::111111111111:role/src";

fn caller_arn(c: Caller) -> &'static str {
    match c {
        Caller::User => USER,
        Caller::Session => SESSION,
    }
}

/// The answer AWS documents for one cell.
///
/// - Explicit deny: "an explicit deny in any of these policies overrides the
///   allow" [UG: reference_policies_evaluation-logic, "Deny evaluation"].
/// - The trust policy must allow: "IAM role trust policies and AWS KMS key
///   policies are exceptions to this logic, because they must explicitly
///   allow access for principals" [UG: reference_policies_evaluation-logic,
///   "Resource-based policies"].
/// - Same account, principal named directly (user ARN, session ARN): the
///   resource-based policy grants on its own; "within an account,
///   permissions boundaries do not reduce the permissions granted by
///   resource-based policies" [UG: access_policies_boundaries]; [UG:
///   id_roles_terms-and-concepts]: a trust naming the user is enough.
/// - Same account, the role ARN behind a session named: the grant is still
///   limited by the session's boundary and session policies
///   [UG: reference_policies_evaluation-logic, "Resource-based policies",
///   role ARN vs role session ARN].
/// - Same account, the account named: "the administrator of the account
///   must also attach an identity-based permissions policy" — the identity
///   policy (within the boundary) must allow [UG: id_roles_terms-and-concepts,
///   UG: reference_policies_evaluation-logic].
/// - Cross account: both the trust policy and the caller's identity policy
///   (within its boundary) must allow
///   [UG: reference_policies_evaluation-logic-cross-account].
fn expected(place: Place, trust: Trust, identity: Identity, boundary: bool) -> Verdict {
    use Verdict::{Allow, ExplicitDeny, ImplicitDeny};
    if identity == Identity::Denies || matches!(trust, Trust::DeniesCaller | Trust::DeniesAccount) {
        return ExplicitDeny;
    }
    if matches!(trust, Trust::NamesSomeoneElse | Trust::FalseCondition) {
        return ImplicitDeny;
    }
    let own_side = identity == Identity::Allows && !boundary;
    let allowed = match (place, trust) {
        (Place::Same, Trust::NamesUser | Trust::NamesSession) => true,
        (Place::Same, Trust::NamesRole) => !boundary,
        _ => own_side,
    };
    if allowed { Allow } else { ImplicitDeny }
}

fn trust_document(trust: Trust, caller: Caller) -> String {
    let me = caller_arn(caller);
    let allow = |principal: &str, condition: &str| {
        format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"{condition}}}"#)
    };
    let deny = |principal: &str| format!(r#"{{"Effect":"Deny","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}"#);
    let account = format!("arn:aws:iam::{A}:root");
    let statements = match trust {
        Trust::NamesUser => allow(USER, ""),
        Trust::NamesSession => allow(SESSION, ""),
        Trust::NamesRole => allow(SOURCE_ROLE, ""),
        Trust::NamesAccount => allow(&account, ""),
        Trust::NamesSomeoneElse => allow("arn:aws:iam::111111111111:user/bob", ""),
        Trust::FalseCondition => allow(me, r#","Condition":{"StringEquals":{"sts:ExternalId":"expected"}}"#),
        Trust::DeniesCaller => format!("{},{}", allow(&account, ""), deny(me)),
        Trust::DeniesAccount => format!("{},{}", allow(me, ""), deny(&account)),
    };
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

fn identity_document(identity: Identity) -> &'static str {
    match identity {
        Identity::Allows => r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
        Identity::Silent => r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        Identity::Denies => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}"#
        }
    }
}

/// A boundary that does not allow `sts:AssumeRole`.
const BOUNDARY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;

fn compile(doc: &str, kind: PolicyKind) -> CompiledPolicy {
    CompiledPolicy::parse(doc, kind).expect("fixture policy parses")
}

struct Cell {
    place: Place,
    trust: Trust,
    identity: Identity,
    boundary: bool,
    caller: Caller,
}

impl Cell {
    fn decide(&self, trust_kind: PolicyKind) -> Verdict {
        let mut doc = trust_document(self.trust, self.caller);
        if trust_kind == PolicyKind::Resource {
            // The same statements as an ordinary resource policy, which names its resource.
            doc = doc.replace(r#""Action":"sts:AssumeRole""#, r#""Action":"sts:AssumeRole","Resource":"*""#);
        }
        let trust = compile(&doc, trust_kind);
        let identity = compile(identity_document(self.identity), PolicyKind::Identity);
        let boundary = compile(BOUNDARY, PolicyKind::Boundary);
        let identity_refs = [PolicyRef { id: "identity", policy: &identity }];
        let set = PolicySet {
            identity: &identity_refs,
            resource: Some(PolicyRef { id: "trust", policy: &trust }),
            boundary: self.boundary.then_some(PolicyRef { id: "boundary", policy: &boundary }),
            resource_account: match self.place {
                Place::Same => A,
                Place::Cross => B,
            },
            ..PolicySet::default()
        };
        let kind = match self.caller {
            Caller::User => PrincipalKind::User,
            Caller::Session => PrincipalKind::AssumedRole { role_arn: SOURCE_ROLE },
        };
        let context = Context::new().with("aws:PrincipalAccount", A);
        let request = Request {
            principal: Principal { arn: caller_arn(self.caller), id: "", account: A, kind },
            action: "sts:AssumeRole",
            resource: match self.place {
                Place::Same => "arn:aws:iam::111111111111:role/target",
                Place::Cross => "arn:aws:iam::222222222222:role/target",
            },
            context: &context,
        };
        let fast = evaluate(&set, &request);
        let full = explain(&set, &request);
        assert_eq!(fast.verdict(), full.verdict(), "evaluate and explain disagree");
        fast.verdict()
    }
}

fn cells() -> impl Iterator<Item = Cell> {
    let places = [Place::Same, Place::Cross];
    let trusts = [
        Trust::NamesUser,
        Trust::NamesSession,
        Trust::NamesRole,
        Trust::NamesAccount,
        Trust::NamesSomeoneElse,
        Trust::FalseCondition,
        Trust::DeniesCaller,
        Trust::DeniesAccount,
    ];
    let identities = [Identity::Allows, Identity::Silent, Identity::Denies];
    places.into_iter().flat_map(move |place| {
        trusts.into_iter().flat_map(move |trust| {
            identities.into_iter().flat_map(move |identity| {
                [false, true].into_iter().flat_map(move |boundary| {
                    // A trust naming the user is asked by the user, one naming a
                    // session or its role by the session; the rest by both.
                    let callers: &[Caller] = match trust {
                        Trust::NamesUser => &[Caller::User],
                        Trust::NamesSession | Trust::NamesRole => &[Caller::Session],
                        _ => &[Caller::User, Caller::Session],
                    };
                    callers.iter().map(move |&caller| Cell { place, trust, identity, boundary, caller })
                })
            })
        })
    })
}

#[test]
fn every_cell_answers_as_aws_documents() {
    let mut failures = Vec::new();
    let mut count = 0;
    for cell in cells() {
        count += 1;
        let want = expected(cell.place, cell.trust, cell.identity, cell.boundary);
        let got = cell.decide(PolicyKind::Trust);
        if got != want {
            failures.push(format!(
                "{:?} / trust {:?} / identity {:?} / boundary {} / {:?}: expected {want:?}, got {got:?}",
                cell.place, cell.trust, cell.identity, cell.boundary, cell.caller
            ));
        }
    }
    assert!(count >= 2 * 8 * 3 * 2, "the matrix lost cells: {count}");
    assert!(failures.is_empty(), "{} of {count} cells wrong:\n{}", failures.len(), failures.join("\n"));
}

/// The contrast that makes the trust policy special: an ordinary
/// resource-based policy in the same account that does not name the caller
/// leaves the decision to the identity policies [UG:
/// reference_policies_evaluation-logic, "Resource-based policies"].
#[test]
fn an_ordinary_resource_policy_lets_identity_decide_within_the_account() {
    for trust in [Trust::NamesSomeoneElse, Trust::FalseCondition] {
        let cell = Cell { place: Place::Same, trust, identity: Identity::Allows, boundary: false, caller: Caller::User };
        assert_eq!(cell.decide(PolicyKind::Resource), Verdict::Allow, "{trust:?}");
        assert_eq!(cell.decide(PolicyKind::Trust), Verdict::ImplicitDeny, "{trust:?}");
    }
}

/// A trust that names the caller directly grants past an implicit deny, but
/// never past an explicit one, wherever it stands: identity, boundary,
/// session policy, SCP or the trust itself.
#[test]
fn an_explicit_deny_anywhere_beats_a_direct_trust_grant() {
    let trust = compile(&trust_document(Trust::NamesUser, Caller::User), PolicyKind::Trust);
    let deny = compile(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        PolicyKind::Boundary,
    );
    let deny_refs = [PolicyRef { id: "deny", policy: &deny }];
    let scp_levels: [&[PolicyRef<'_>]; 1] = [&deny_refs];
    let context = Context::new();
    let request = Request {
        principal: Principal { arn: USER, id: "", account: A, kind: PrincipalKind::User },
        action: "sts:AssumeRole",
        resource: "arn:aws:iam::111111111111:role/target",
        context: &context,
    };
    let base = PolicySet { resource: Some(PolicyRef { id: "trust", policy: &trust }), resource_account: A, ..PolicySet::default() };
    assert_eq!(evaluate(&base, &request).verdict(), Verdict::Allow);
    let cases = [
        (PolicyType::Identity, PolicySet { identity: &deny_refs, ..base }),
        (PolicyType::Boundary, PolicySet { boundary: Some(deny_refs[0]), ..base }),
        (PolicyType::Session, PolicySet { session: Some(&deny_refs), ..base }),
        (PolicyType::Scp, PolicySet { scps: &scp_levels, ..base }),
    ];
    for (t, set) in cases {
        let d = evaluate(&set, &request);
        assert_eq!(d.verdict(), Verdict::ExplicitDeny, "{t:?}");
        match d.reason() {
            Reason::Denied(s) => assert_eq!(s.policy_type, t),
            other => panic!("{t:?}: {other:?}"),
        }
    }
}

/// A root user is all-powerful in its own account, but a trust policy must
/// still allow it (the STS handler refuses root before asking).
#[test]
fn root_needs_the_trust_policy_too() {
    let trust = compile(&trust_document(Trust::NamesSomeoneElse, Caller::User), PolicyKind::Trust);
    let context = Context::new();
    let request = Request {
        principal: Principal { arn: "arn:aws:iam::111111111111:root", id: "", account: A, kind: PrincipalKind::Root },
        action: "sts:AssumeRole",
        resource: "arn:aws:iam::111111111111:role/target",
        context: &context,
    };
    let set = PolicySet { resource: Some(PolicyRef { id: "trust", policy: &trust }), resource_account: A, ..PolicySet::default() };
    let d = evaluate(&set, &request);
    assert_eq!(d.verdict(), Verdict::ImplicitDeny);
    assert_eq!(d.reason(), Reason::NotAllowed(PolicyType::Resource));
}
