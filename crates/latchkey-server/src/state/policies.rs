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

/// An AWS-managed policy built into latchkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsManaged {
    /// `AdministratorAccess`, …
    pub name: &'static str,
    /// `/`
    pub path: &'static str,
    /// AWS's description.
    pub description: &'static str,
    /// The default version's document.
    pub document: &'static str,
    /// The default version's id (the only version latchkey has).
    pub version: &'static str,
    /// When AWS created the policy (Unix seconds).
    pub created: i64,
    /// When its default version was made (Unix seconds).
    pub updated: i64,
}

impl AwsManaged {
    /// `arn:aws:iam::aws:policy/PATH/NAME`
    pub fn arn(&self) -> String {
        aws_managed_arn(self.name, self.path)
    }
}

/// 2015-02-05, when AWS introduced managed policies: the dates latchkey
/// gives the policies it has held since before it tracked AWS's.
const AWS_EPOCH: i64 = 1_423_094_400;

/// One of the first policies latchkey held, version `v1` of `AWS_EPOCH`.
const fn first(name: &'static str, description: &'static str, document: &'static str) -> AwsManaged {
    AwsManaged { name, path: "/", description, document, version: "v1", created: AWS_EPOCH, updated: AWS_EPOCH }
}

/// The AWS-managed policies latchkey knows. Their iam, sts, organizations,
/// cloudtrail and s3 parts follow AWS's documents; the S3 ones carry AWS's
/// version ids and dates (AWS Managed Policy Reference).
pub const AWS_MANAGED: &[AwsManaged] = &[
    first("AdministratorAccess", "Provides full access to AWS services and resources.", include_str!("aws_managed/AdministratorAccess.json")),
    first(
        "PowerUserAccess",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        include_str!("aws_managed/PowerUserAccess.json"),
    ),
    first("IAMFullAccess", "Provides full access to IAM via the AWS Management Console.", include_str!("aws_managed/IAMFullAccess.json")),
    first("IAMReadOnlyAccess", "Provides read only access to IAM via the AWS Management Console.", include_str!("aws_managed/IAMReadOnlyAccess.json")),
    first("ReadOnlyAccess", "Provides read-only access to AWS services and resources.", include_str!("aws_managed/ReadOnlyAccess.json")),
    AwsManaged {
        name: "AmazonS3FullAccess",
        path: "/",
        description: "Provides full access to all buckets via the AWS Management Console.",
        document: include_str!("aws_managed/AmazonS3FullAccess.json"),
        version: "v2",
        created: 1_423_248_058, // 2015-02-06T18:40:58Z
        updated: 1_632_773_797, // 2021-09-27T20:16:37Z
    },
    AwsManaged {
        name: "AmazonS3ReadOnlyAccess",
        path: "/",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        document: include_str!("aws_managed/AmazonS3ReadOnlyAccess.json"),
        version: "v3",
        created: 1_423_248_059, // 2015-02-06T18:40:59Z
        updated: 1_691_703_099, // 2023-08-10T21:31:39Z
    },
];

/// An AWS-managed policy by ARN.
pub fn aws_managed_policy(arn: &str) -> Option<&'static AwsManaged> {
    AWS_MANAGED.iter().find(|m| m.arn() == arn)
}

/// The ARN of an AWS-managed policy.
pub fn aws_managed_arn(name: &str, path: &str) -> String {
    format!("arn:aws:iam::aws:policy{path}{name}")
}

/// AWS-managed policies by ARN, compiled once per process.
pub static AWS_MANAGED_COMPILED: LazyLock<Vec<(String, NamedPolicy)>> = LazyLock::new(|| {
    AWS_MANAGED
        .iter()
        .map(|m| {
            let arn = m.arn();
            let named = NamedPolicy { id: Arc::from(arn.as_str()), policy: compile_stored(m.document, PolicyKind::Identity) };
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
    let doc = if kind == PolicyKind::Resource {
        // A resource-based policy names its resources too.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}]}"#
    } else if kind.has_principal() {
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
        for m in AWS_MANAGED {
            assert!(CompiledPolicy::parse(m.document, PolicyKind::Identity).is_ok(), "{}", m.name);
            assert!(m.created <= m.updated && m.version.starts_with('v'), "{}", m.name);
        }
        assert_eq!(aws_managed_policy("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess").map(|m| m.version), Some("v3"));
        assert_eq!(AWS_MANAGED_COMPILED.len(), AWS_MANAGED.len());
        for kind in [PolicyKind::Identity, PolicyKind::Trust, PolicyKind::Session, PolicyKind::Resource] {
            assert!(!deny_all(kind).is_empty());
        }
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#;
        assert!(Arc::ptr_eq(&compile_session(doc), &compile_session(doc)), "compiled once");
    }
}
