//! Why an AssumeRole failed, in words that say what to change.
//!
//! AWS documents the causes of an AssumeRole AccessDenied: the role's trust
//! policy does not allow the caller; it trusts the caller's account, which
//! then needs `sts:AssumeRole` in its own identity policy; the trust policy
//! requires MFA (`aws:MultiFactorAuthPresent`) or an ExternalId
//! (`sts:ExternalId`); or the role does not exist (refused the same way).
//! When the server sent an encoded authorization message and the caller may
//! decode it (latchkey does this), the decoded record says which side
//! refused; otherwise the likely causes are listed, given what was sent.

use std::fmt::Write as _;

/// The marker latchkey (and EC2) put before the encoded message.
pub const ENCODED_MARKER: &str = "Encoded authorization failure message:";

/// A failed STS call and what the request carried.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub role_arn: &'a str,
    pub caller_arn: Option<&'a str>,
    pub mfa_given: bool,
    pub external_id_given: bool,
}

/// The message without the encoded blob, and the blob.
pub fn split_encoded(message: &str) -> (&str, Option<&str>) {
    match message.split_once(ENCODED_MARKER) {
        Some((head, blob)) => (head.trim_end(), Some(blob.trim()).filter(|b| !b.is_empty())),
        None => (message, None),
    }
}

/// The explanation to print: the server's message, then what it means.
/// `decoded` is the DecodeAuthorizationMessage result when it was allowed.
pub fn explain(f: &Failure<'_>, decoded: Option<&serde_json::Value>) -> String {
    let (head, blob) = split_encoded(f.message);
    let mut out = format!("AssumeRole on `{}` failed: {}: {}", f.role_arn, f.code, head);
    let who = f.caller_arn.unwrap_or("your source identity");
    let mut why = |line: String| {
        let _ = write!(out, "\n  - {line}");
    };
    match f.code {
        "ExpiredToken" => why("the source credentials have expired: refresh them (or `latchkey unassume`) and retry".into()),
        "InvalidClientTokenId" | "SignatureDoesNotMatch" => why(
            "this endpoint does not accept the source credentials: check --endpoint-url / endpoint_url and the keys".into(),
        ),
        "ValidationError" if head.contains("role chaining") => why(
            "role-chained sessions (assumed with role credentials) are capped at 1 hour: ask for --duration 3600 or less"
                .into(),
        ),
        "ValidationError" if head.contains("MaxSessionDuration") => {
            why("the role's MaxSessionDuration is shorter than the requested --duration".into());
        }
        "AccessDenied" if head.contains("MultiFactorAuthentication failed") => why(
            "the MFA code was refused: it may be mistyped, already used (each code works once; wait for the next), or the serial number is not the device enabled for you".into(),
        ),
        "AccessDenied" if head.contains("too many invalid codes") => {
            why("the MFA device is locked after repeated wrong codes: wait five minutes".into());
        }
        "AccessDenied" if head.contains("may not be assumed by root") => {
            why("root credentials cannot assume roles: use an IAM user's (or a role's) credentials as the source".into());
        }
        "AccessDenied" => match decoded {
            Some(d) => explain_decoded(f, who, d, &mut why),
            None => explain_blind(f, who, &mut why),
        },
        _ => {}
    }
    if let Some(blob) = blob
        && decoded.is_none()
    {
        let _ = write!(
            out,
            "\n  the server's encoded authorization message (for `aws sts decode-authorization-message` or `latchkey explain`):\n  {blob}"
        );
    }
    out
}

fn explain_decoded(f: &Failure<'_>, who: &str, d: &serde_json::Value, why: &mut dyn FnMut(String)) {
    let explicit = d.get("explicitDeny").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let item = d.pointer("/matchedStatements/items/0");
    let kind = item.and_then(|i| i.get("policyType")).and_then(serde_json::Value::as_str).unwrap_or("");
    let policy = item.and_then(|i| i.get("policyId")).and_then(serde_json::Value::as_str);
    let statement = item
        .and_then(|i| i.get("statementId").and_then(serde_json::Value::as_str).map(str::to_owned))
        .or_else(|| item.and_then(|i| i.get("statementIndex")).map(|n| format!("#{n}")));
    let condition = |key: &str| -> Option<String> {
        d.pointer("/context/conditions/items")?.as_array()?.iter().find_map(|c| {
            (c.get("key")?.as_str()? == key)
                .then(|| c.pointer("/values/items/0/value").and_then(serde_json::Value::as_str).map(str::to_owned))?
        })
    };
    let deny_at = match (policy, statement) {
        (Some(p), Some(s)) => format!(" (policy `{p}`, statement {s})"),
        (Some(p), None) => format!(" (policy `{p}`)"),
        _ => String::new(),
    };
    match (kind, explicit) {
        ("resource-based policy", true) => why(format!("a Deny in the role's trust policy refuses {who}{deny_at}")),
        ("resource-based policy", false) => {
            why(format!("the role's trust policy does not allow {who} (the trust side is missing)"));
            condition_hints(&condition, why);
            why("else the trust policy's Principal must name this identity (or its account), or the role does not exist".into());
        }
        ("identity-based policy", true) => {
            why(format!("a Deny in {who}'s own identity policy refuses sts:AssumeRole{deny_at}"))
        }
        // A trust policy must allow the caller itself, so an identity-side
        // refusal means the trust allowed through the caller's account (the
        // only grant that needs the caller's own policy too), in this account
        // or another.
        ("identity-based policy", false) => why(format!(
            "the role's trust policy allows {who}'s account, but {who}'s own identity policy does not allow sts:AssumeRole on `{}`: add that Allow (the caller side is missing)",
            f.role_arn
        )),
        ("permissions boundary", _) => {
            why(format!("{who}'s permissions boundary does not allow sts:AssumeRole on `{}`{deny_at}", f.role_arn));
        }
        ("session policy", _) => {
            why(format!(
                "the current session's session policy does not allow sts:AssumeRole on `{}`{deny_at}",
                f.role_arn
            ));
        }
        ("service control policy", _) => {
            why(format!("a service control policy of the organization refuses it{deny_at}"))
        }
        _ => explain_blind(f, who, why),
    }
}

fn condition_hints(condition: &dyn Fn(&str) -> Option<String>, why: &mut dyn FnMut(String)) {
    if condition("aws:MultiFactorAuthPresent").as_deref() != Some("true") {
        why("if the trust policy requires MFA (aws:MultiFactorAuthPresent), assume with --serial-number, or set mfa_serial in the profile".into());
    }
    match condition("sts:ExternalId") {
        None => why("if the trust policy requires an ExternalId (sts:ExternalId), pass --external-id".into()),
        Some(_) => why("check that --external-id matches the trust policy's sts:ExternalId".into()),
    }
}

fn explain_blind(f: &Failure<'_>, who: &str, why: &mut dyn FnMut(String)) {
    why(format!("the role's trust policy may not allow {who}: its Principal must name this identity or its account"));
    why(format!(
        "if the trust policy names the account, {who}'s own identity policy must allow sts:AssumeRole on `{}`",
        f.role_arn
    ));
    if f.mfa_given {
        why("MFA was sent; if the trust policy has other conditions, check them".into());
    } else {
        why("if the trust policy requires MFA (aws:MultiFactorAuthPresent), pass --serial-number or set mfa_serial"
            .into());
    }
    if f.external_id_given {
        why("check that --external-id matches the trust policy's sts:ExternalId".into());
    } else {
        why("if the trust policy requires an ExternalId (sts:ExternalId), pass --external-id".into());
    }
    why("or the role does not exist (AWS refuses that the same way)".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(message: &str) -> Failure<'_> {
        Failure {
            code: "AccessDenied",
            message,
            role_arn: "arn:aws:iam::1:role/r",
            caller_arn: Some("arn:aws:iam::1:user/alice"),
            mfa_given: false,
            external_id_given: false,
        }
    }

    fn decoded(kind: &str, explicit: bool, conditions: &[(&str, &str)]) -> serde_json::Value {
        let items: Vec<_> = conditions
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "values": {"items": [{"value": v}]}}))
            .collect();
        serde_json::json!({
            "allowed": false, "explicitDeny": explicit,
            "matchedStatements": {"items": [{"policyType": kind, "effect": if explicit {"DENY"} else {"NONE_ALLOWED"}}]},
            "context": {"conditions": {"items": items}},
        })
    }

    const DENIED: &str = "User: arn:aws:iam::1:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/r Encoded authorization failure message: QUJD";

    #[test]
    fn the_trust_side() {
        let text = explain(
            &failure(DENIED),
            Some(&decoded("resource-based policy", false, &[("aws:MultiFactorAuthPresent", "false")])),
        );
        assert!(text.contains("trust policy does not allow arn:aws:iam::1:user/alice"), "{text}");
        assert!(text.contains("requires MFA"));
        assert!(text.contains("--external-id"));
        assert!(!text.contains("QUJD"), "decoded: the blob is not repeated");
    }

    #[test]
    fn the_caller_side() {
        // The trust policy allowed the account, within it or across accounts:
        // the caller's own policy is what is missing.
        for caller in ["arn:aws:iam::1:user/alice", "arn:aws:iam::2:user/alice"] {
            let mut f = failure(DENIED);
            f.caller_arn = Some(caller);
            let text = explain(&f, Some(&decoded("identity-based policy", false, &[])));
            assert!(text.contains("the caller side is missing"), "{text}");
            assert!(text.contains("own identity policy does not allow sts:AssumeRole"), "{text}");
            assert!(!text.contains("requires MFA"));
        }
    }

    #[test]
    fn mfa_and_external_id_given() {
        let text = explain(
            &failure(DENIED),
            Some(&decoded(
                "resource-based policy",
                false,
                &[("aws:MultiFactorAuthPresent", "true"), ("sts:ExternalId", "x")],
            )),
        );
        assert!(!text.contains("requires MFA"), "{text}");
        assert!(text.contains("matches the trust policy's sts:ExternalId"));
    }

    #[test]
    fn without_a_decoded_message_every_cause_is_listed_and_the_blob_kept() {
        let text = explain(&failure(DENIED), None);
        assert!(text.contains("trust policy may not allow"));
        assert!(text.contains("identity policy must allow"));
        assert!(text.contains("requires MFA"));
        assert!(text.contains("QUJD"));
        let aws = explain(&failure("User: x is not authorized to perform: sts:AssumeRole on resource: y"), None);
        assert!(aws.contains("does not exist"));
    }

    #[test]
    fn specific_refusals() {
        let mut f = failure("MultiFactorAuthentication failed, unable to validate MFA code.");
        assert!(explain(&f, None).contains("MFA code was refused"));
        f.message = "Roles may not be assumed by root accounts.";
        assert!(explain(&f, None).contains("root credentials cannot assume roles"));
        f.code = "ValidationError";
        f.message =
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.";
        assert!(explain(&f, None).contains("capped at 1 hour"));
    }
}
