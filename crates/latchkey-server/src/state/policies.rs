//! Compiled policies held by the snapshot, and the AWS-managed policies
//! built into latchkey.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use latchkey_policy::{CompiledPolicy, PolicyKind};

/// A compiled policy with the name explanations use for it.
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    /// Its ARN, or `user/NAME/POLICY` for an inline policy.
    pub id: Arc<str>,
    /// The compiled form.
    pub policy: Arc<CompiledPolicy>,
}

/// The AWS-managed policies latchkey knows: (name, path, description, document).
/// Their iam, sts, organizations and cloudtrail parts follow AWS's documents.
pub const AWS_MANAGED: &[(&str, &str, &str, &str)] = &[
    ("AdministratorAccess", "/", "Provides full access to AWS services and resources.", include_str!("aws_managed/AdministratorAccess.json")),
    (
        "PowerUserAccess",
        "/",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        include_str!("aws_managed/PowerUserAccess.json"),
    ),
    ("IAMFullAccess", "/", "Provides full access to IAM via the AWS Management Console.", include_str!("aws_managed/IAMFullAccess.json")),
    ("IAMReadOnlyAccess", "/", "Provides read only access to IAM via the AWS Management Console.", include_str!("aws_managed/IAMReadOnlyAccess.json")),
    ("ReadOnlyAccess", "/", "Provides read-only access to AWS services and resources.", include_str!("aws_managed/ReadOnlyAccess.json")),
];

/// The ARN of an AWS-managed policy.
pub fn aws_managed_arn(name: &str, path: &str) -> String {
    format!("arn:aws:iam::aws:policy{path}{name}")
}

/// AWS-managed policies by ARN, compiled once per process.
pub static AWS_MANAGED_COMPILED: LazyLock<Vec<(String, NamedPolicy)>> = LazyLock::new(|| {
    AWS_MANAGED
        .iter()
        .map(|(name, path, _, doc)| {
            let arn = aws_managed_arn(name, path);
            let named = NamedPolicy { id: Arc::from(arn.as_str()), policy: compile_stored(doc, PolicyKind::Identity) };
            (arn, named)
        })
        .collect()
});

/// Compiles a document that was validated when it was stored. Should it no
/// longer compile (a newer, stricter parser), it is replaced by a policy that
/// denies everything: failing closed, since dropping it could drop a Deny.
pub fn compile_stored(doc: &str, kind: PolicyKind) -> Arc<CompiledPolicy> {
    match CompiledPolicy::parse(doc, kind) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::error!(error = %e.aws_message(), "a stored policy no longer compiles; it now denies everything");
            Arc::new(deny_all(kind))
        }
    }
}

/// Session policies travel in tokens, not the snapshot. Each distinct
/// document is compiled once and kept here, so a session's requests do not
/// re-parse it; the cache is bounded and simply starts over when full.
static SESSION_POLICIES: LazyLock<Mutex<HashMap<String, Arc<CompiledPolicy>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const SESSION_POLICY_CACHE: usize = 4096;

/// A session policy carried by a token, compiled (once per distinct document).
pub fn compile_session(doc: &str) -> Arc<CompiledPolicy> {
    if let Some(p) = SESSION_POLICIES.lock().ok().and_then(|m| m.get(doc).cloned()) {
        return p;
    }
    let compiled = compile_stored(doc, PolicyKind::Session);
    if let Ok(mut m) = SESSION_POLICIES.lock() {
        if m.len() >= SESSION_POLICY_CACHE {
            m.clear();
        }
        m.insert(doc.to_owned(), compiled.clone());
    }
    compiled
}

/// What stands in for a managed session policy deleted since the session
/// began: it must allow nothing, so it denies everything.
pub static DENY_ALL_SESSION: LazyLock<Arc<CompiledPolicy>> = LazyLock::new(|| Arc::new(deny_all(PolicyKind::Session)));

fn deny_all(kind: PolicyKind) -> CompiledPolicy {
    let doc = if kind.has_principal() {
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"*"}]}"#
    } else {
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#
    };
    #[expect(clippy::expect_used, reason = "a literal, valid policy; covered by a test")]
    CompiledPolicy::parse(doc, kind).expect("the deny-all policy parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_managed_policies_compile() {
        for (name, _, _, doc) in AWS_MANAGED {
            assert!(CompiledPolicy::parse(doc, PolicyKind::Identity).is_ok(), "{name}");
        }
        assert_eq!(AWS_MANAGED_COMPILED.len(), AWS_MANAGED.len());
        for kind in [PolicyKind::Identity, PolicyKind::Trust, PolicyKind::Session] {
            assert!(!deny_all(kind).is_empty());
        }
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#;
        assert!(Arc::ptr_eq(&compile_session(doc), &compile_session(doc)), "compiled once");
    }
}
