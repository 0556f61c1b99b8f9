//! Principals bound to unique ids: "If your Principal element in a role
//! trust policy contains an ARN that points to a specific IAM role [or
//! user], then that ARN transforms to the role's unique principal ID when
//! you save the policy. … If you delete the role, then you break the
//! relationship. … if you recreate the role, … the new role has a new
//! principal ID that does not match the ID stored in the trust policy."
//! [UG: reference_policies_elements_principal, "IAM role principals" and
//! "IAM user principals"].

#![expect(clippy::expect_used, reason = "test code: a broken fixture should stop the test")]

use latchkey_policy::{
    CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Request,
    Verdict, evaluate, names_iam_entity,
};

const ACCOUNT: &str = "111111111111";
const ALICE: &str = "arn:aws:iam::111111111111:user/alice";
const SOURCE: &str = "arn:aws:iam::111111111111:role/src";
const OLD_ALICE: &str = "AIDAOLDALICE0000000000";
const OLD_SOURCE: &str = "AROAOLDSOURCE000000000";

fn trust(principals: &str) -> CompiledPolicy {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":{principals}}},"Action":"sts:AssumeRole"}}}}"#
    );
    let mut p = CompiledPolicy::parse(&doc, PolicyKind::Trust).expect("fixture parses");
    p.bind_principals(&|arn| match arn {
        ALICE => Some(OLD_ALICE),
        SOURCE => Some(OLD_SOURCE),
        _ => None,
    });
    p
}

fn decide(policy: &CompiledPolicy, arn: &str, id: &str, kind: PrincipalKind<'_>) -> Verdict {
    let context = Context::new();
    let set = PolicySet {
        resource: Some(PolicyRef { id: "trust", policy }),
        resource_account: ACCOUNT,
        ..PolicySet::default()
    };
    let request = Request {
        principal: Principal { arn, id, account: ACCOUNT, kind },
        action: "sts:AssumeRole",
        resource: "arn:aws:iam::111111111111:role/target",
        context: &context,
    };
    evaluate(&set, &request).verdict()
}

#[test]
fn a_user_is_named_by_the_id_it_had_when_the_policy_was_saved() {
    let p = trust(&format!(r#""{ALICE}""#));
    assert_eq!(decide(&p, ALICE, OLD_ALICE, PrincipalKind::User), Verdict::Allow);
    // Deleted and recreated under the same name: another principal.
    assert_eq!(decide(&p, ALICE, "AIDANEWALICE0000000000", PrincipalKind::User), Verdict::ImplicitDeny);
    // Renamed: still the same principal.
    let renamed = "arn:aws:iam::111111111111:user/alice-renamed";
    assert_eq!(decide(&p, renamed, OLD_ALICE, PrincipalKind::User), Verdict::Allow);
}

#[test]
fn a_role_behind_a_session_is_named_by_its_id() {
    let p = trust(&format!(r#""{SOURCE}""#));
    let session = "arn:aws:sts::111111111111:assumed-role/src/s1";
    let kind = PrincipalKind::AssumedRole { role_arn: SOURCE };
    assert_eq!(decide(&p, session, OLD_SOURCE, kind), Verdict::Allow);
    assert_eq!(decide(&p, session, "AROANEWSOURCE000000000", kind), Verdict::ImplicitDeny);
}

#[test]
fn an_unbound_entity_names_nobody_and_other_principals_are_untouched() {
    let bob = "arn:aws:iam::111111111111:user/bob";
    let session = "arn:aws:sts::111111111111:assumed-role/src/s1";
    let p = trust(&format!(r#"["{bob}","{session}"]"#));
    assert_eq!(decide(&p, bob, "AIDABOB000000000000000", PrincipalKind::User), Verdict::ImplicitDeny);
    let kind = PrincipalKind::AssumedRole { role_arn: SOURCE };
    assert_eq!(decide(&p, session, "AROANEWSOURCE000000000", kind), Verdict::Allow);
}

#[test]
fn what_counts_as_an_iam_entity() {
    assert!(names_iam_entity(ALICE));
    assert!(names_iam_entity("arn:aws:iam::111111111111:role/path/x"));
    assert!(!names_iam_entity("arn:aws:iam::111111111111:root"));
    assert!(!names_iam_entity("arn:aws:sts::111111111111:assumed-role/src/s1"));
    assert!(!names_iam_entity("arn:aws:iam::111111111111:group/g"));
    assert!(!names_iam_entity("111111111111"));
}
