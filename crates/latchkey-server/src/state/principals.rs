//! Users and roles named in stored resource policies, bound to unique ids.
//!
//! AWS saves a trust policy's user and role ARNs as the entities' unique
//! ids: "If your Principal element in a role trust policy contains an ARN
//! that points to a specific IAM role, then that ARN transforms to the
//! role's unique principal ID when you save the policy. … If you delete the
//! role, then you break the relationship" (IAM User Guide, "AWS JSON policy
//! elements: Principal"; the same for IAM users). So a user deleted and
//! recreated under its old name is not trusted, a renamed user still is, and
//! `GetRole` shows a deleted principal's id where its ARN was.
//!
//! latchkey keeps the document as written and its bindings beside it
//! (`Role::trust_principals`): [`bind`] makes them when a policy is saved,
//! [`binder`] hands them to the policy engine, [`display`] writes the
//! document as AWS shows it.

use std::borrow::Cow;

use latchkey_model::{AccountId, PrincipalBinding, UniqueId};
use latchkey_policy::{Policy, PrincipalEntry, names_iam_entity};

use super::Snapshot;

/// A principal that names no existing user or role: AWS's
/// `MalformedPolicyDocument` "Invalid principal in policy".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPrincipal(pub String);

impl InvalidPrincipal {
    /// AWS's message.
    pub fn message(&self) -> String {
        format!("Invalid principal in policy: \"AWS\":\"{}\"", self.0)
    }
}

/// The entity `arn` names now: its unique id and its ARN as the entity
/// writes it. IAM names are unique case-insensitively; the path must match.
fn resolve(snap: &Snapshot, arn: &str) -> Option<(UniqueId, String)> {
    let parsed = latchkey_model::Arn::parse(arn)?;
    let account: AccountId = parsed.account_id()?;
    let acct = snap.account(&account)?;
    let (kind, rest) = parsed.resource.split_once('/')?;
    let name = rest.rsplit('/').next()?;
    let (id, actual) = match kind {
        "user" => acct.user(name).map(|u| (u.id.clone(), u.arn()))?,
        "role" => acct.role(name).map(|r| (r.role.id.clone(), r.role.arn()))?,
        _ => return None,
    };
    actual.eq_ignore_ascii_case(arn).then_some((id, actual))
}

/// The current ARN of the entity with unique id `id`, in the account that
/// `arn` names; `None` once it is deleted.
fn current_arn(snap: &Snapshot, arn: &str, id: &UniqueId) -> Option<String> {
    let account: AccountId = latchkey_model::Arn::parse(arn)?.account_id()?;
    let acct = snap.account(&account)?;
    acct.user_by_id(id).map(latchkey_model::User::arn).or_else(|| acct.role_by_id(id).map(|r| r.role.arn()))
}

/// Binds every user and role ARN of `policy`'s `Principal` and
/// `NotPrincipal` elements to the entity that holds it in `snap`; an ARN
/// that names no existing entity is refused, as AWS refuses it.
pub fn bind(snap: &Snapshot, policy: &Policy) -> Result<Vec<PrincipalBinding>, InvalidPrincipal> {
    bind_with(snap, policy, true)
}

/// Like [`bind`] for a policy stored before latchkey bound principals: an
/// ARN that names nobody now stays unbound (and so matches nobody) instead
/// of refusing a policy that was accepted when it was saved.
pub fn bind_stored(snap: &Snapshot, policy: &Policy) -> Vec<PrincipalBinding> {
    bind_with(snap, policy, false).unwrap_or_default()
}

fn bind_with(snap: &Snapshot, policy: &Policy, strict: bool) -> Result<Vec<PrincipalBinding>, InvalidPrincipal> {
    let mut out: Vec<PrincipalBinding> = Vec::new();
    let entries = policy.statements().iter().filter_map(|s| s.principal.as_ref()).flat_map(|p| p.entries.iter());
    for entry in entries {
        let PrincipalEntry::Aws(arn) = entry else { continue };
        if !names_iam_entity(arn) || out.iter().any(|b| b.arn == *arn) {
            continue;
        }
        match resolve(snap, arn) {
            Some((id, _)) => out.push(PrincipalBinding { arn: arn.clone(), id }),
            None if strict => return Err(InvalidPrincipal(arn.clone())),
            None => {}
        }
    }
    Ok(out)
}

/// The lookup [`latchkey_policy::CompiledPolicy::bind_principals`] takes.
pub fn binder<'b>(bindings: &'b [PrincipalBinding]) -> impl Fn(&str) -> Option<&'b str> {
    move |arn: &str| bindings.iter().find(|b| b.arn == arn).map(|b| b.id.as_str())
}

/// The document as AWS shows it: each bound principal by its entity's
/// current ARN (it may have been renamed), or by its unique id once the
/// entity is gone. Unchanged text when every binding still reads as written.
pub fn display<'d>(snap: &Snapshot, document: &'d str, bindings: &[PrincipalBinding]) -> Cow<'d, str> {
    let shown: Vec<(&str, String)> = bindings
        .iter()
        .filter_map(|b| {
            let now = current_arn(snap, &b.arn, &b.id).unwrap_or_else(|| b.id.to_string());
            (now != b.arn).then_some((b.arn.as_str(), now))
        })
        .collect();
    if shown.is_empty() {
        return Cow::Borrowed(document);
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(document) else {
        return Cow::Borrowed(document);
    };
    let replace = |v: &mut serde_json::Value| {
        if let serde_json::Value::String(s) = v
            && let Some((_, now)) = shown.iter().find(|(was, _)| *was == s.as_str())
        {
            *s = now.clone();
        }
    };
    let statements = match value.get_mut("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter_mut().collect::<Vec<_>>(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    for st in statements {
        for element in ["Principal", "NotPrincipal"] {
            match st.get_mut(element).and_then(|p| p.get_mut("AWS")) {
                Some(serde_json::Value::Array(list)) => list.iter_mut().for_each(replace),
                Some(v) => replace(v),
                None => {}
            }
        }
    }
    Cow::Owned(value.to_string())
}
