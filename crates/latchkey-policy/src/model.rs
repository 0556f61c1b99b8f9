//! The checked policy model: what a document says, once IAM would accept it.

use std::fmt;

/// Which kind of document a policy is; it decides which elements are required
/// or forbidden and which size quota applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PolicyKind {
    /// Identity-based policy: managed, or inline on a user, group or role.
    Identity,
    /// A role's trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// A resource-based policy (bucket, key, queue, ...).
    Resource,
    /// A session policy passed to `AssumeRole*` or `GetFederationToken`.
    Session,
    /// A permissions boundary (a managed policy used as a boundary).
    Boundary,
    /// An Organizations service control policy.
    ServiceControl,
}

impl PolicyKind {
    /// Whether statements of this kind name a principal.
    pub fn has_principal(self) -> bool {
        matches!(self, Self::Trust | Self::Resource)
    }

    /// Whether a resource-based policy of this kind must allow the caller
    /// itself, even within its own account. For most resource-based policies
    /// either the resource policy or the caller's identity policies may allow
    /// a same-account request, but "IAM role trust policies and AWS KMS key
    /// policies are exceptions to this logic, because they must explicitly
    /// allow access for principals" (IAM User Guide, "Policy evaluation
    /// logic", resource-based policies).
    pub fn must_allow_principal(self) -> bool {
        matches!(self, Self::Trust)
    }
}

/// The policy language version (`Version` element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Version {
    /// `2008-10-17`, or no `Version` at all: policy variables are plain text.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies, overriding every allow.
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        })
    }
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: a list of patterns,
/// possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    /// `true` for the `Not...` form.
    pub negated: bool,
    /// The patterns as written.
    pub values: Vec<String>,
}

/// One entry of a `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"Principal": "*"`: everyone, anonymous callers included.
    Everyone,
    /// `{"AWS": ...}`: `*`, an account id, or a root, user, role, assumed-role
    /// or federated-user ARN.
    Aws(String),
    /// `{"Service": "ec2.amazonaws.com"}`.
    Service(String),
    /// `{"Federated": ...}`: an OIDC/SAML provider ARN or a web identity provider name.
    Federated(String),
    /// `{"CanonicalUser": ...}`: an S3 canonical user id.
    CanonicalUser(String),
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    /// `true` for `NotPrincipal`.
    pub negated: bool,
    /// The entries as written.
    pub entries: Vec<PrincipalEntry>,
}

/// How a condition operator treats a multi-valued key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SetQualifier {
    /// No prefix.
    None,
    /// `ForAllValues:`: every request value must match (true when the key is absent or empty).
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match (false when absent or empty).
    ForAnyValue,
}

/// The condition operators of the IAM policy language, without prefix or suffix.
#[expect(missing_docs, reason = "the variants are the operator names")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: [(&str, Operator); 27] = [
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        Operator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericNotEquals", Operator::NumericNotEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        Operator::NumericGreaterThanEquals,
    ),
    ("DateEquals", Operator::DateEquals),
    ("DateNotEquals", Operator::DateNotEquals),
    ("DateLessThan", Operator::DateLessThan),
    ("DateLessThanEquals", Operator::DateLessThanEquals),
    ("DateGreaterThan", Operator::DateGreaterThan),
    ("DateGreaterThanEquals", Operator::DateGreaterThanEquals),
    ("Bool", Operator::Bool),
    ("BinaryEquals", Operator::BinaryEquals),
    ("IpAddress", Operator::IpAddress),
    ("NotIpAddress", Operator::NotIpAddress),
    ("ArnEquals", Operator::ArnEquals),
    ("ArnLike", Operator::ArnLike),
    ("ArnNotEquals", Operator::ArnNotEquals),
    ("ArnNotLike", Operator::ArnNotLike),
    ("Null", Operator::Null),
];

impl Operator {
    /// The operator's name as written in policies.
    pub fn name(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(name, _)| name)
    }

    fn from_name(name: &str) -> Option<Self> {
        OPERATORS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    }

    /// Negated operators (`StringNotEquals`, `NotIpAddress`, ...) are true when
    /// no policy value matches.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::NumericNotEquals
                | Self::DateNotEquals
                | Self::NotIpAddress
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// Whether policy variables are substituted in this operator's values.
    pub fn takes_variables(self) -> bool {
        matches!(
            self,
            Self::StringEquals
                | Self::StringNotEquals
                | Self::StringEqualsIgnoreCase
                | Self::StringNotEqualsIgnoreCase
                | Self::StringLike
                | Self::StringNotLike
                | Self::ArnEquals
                | Self::ArnLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    pub(crate) fn is_date(self) -> bool {
        matches!(
            self,
            Self::DateEquals
                | Self::DateNotEquals
                | Self::DateLessThan
                | Self::DateLessThanEquals
                | Self::DateGreaterThan
                | Self::DateGreaterThanEquals
        )
    }
}

/// A full condition operator: `[ForAllValues:|ForAnyValue:]Operator[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ConditionOperator {
    /// The set-operator prefix.
    pub qualifier: SetQualifier,
    /// The base operator.
    pub operator: Operator,
    /// The `IfExists` suffix: true when the key is absent.
    pub if_exists: bool,
}

impl ConditionOperator {
    /// Parses an operator as written; `None` when IAM does not know it.
    pub fn parse(text: &str) -> Option<Self> {
        let (qualifier, rest) = if let Some(r) = text.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else if let Some(r) = text.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else {
            (SetQualifier::None, text)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let operator = Operator::from_name(base)?;
        if if_exists && operator == Operator::Null {
            return None;
        }
        Some(Self {
            qualifier,
            operator,
            if_exists,
        })
    }
}

impl fmt::Display for ConditionOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            SetQualifier::None => {}
            SetQualifier::ForAllValues => f.write_str("ForAllValues:")?,
            SetQualifier::ForAnyValue => f.write_str("ForAnyValue:")?,
        }
        f.write_str(self.operator.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

/// One `operator: { key: values }` test of a `Condition` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: ConditionOperator,
    /// The condition key as written (matched case-insensitively).
    pub key: String,
    /// The policy values; numbers and booleans are kept as their JSON text.
    pub values: Vec<String>,
}

/// One statement of a checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, when present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` or `NotAction`.
    pub action: Patterns,
    /// `Resource` or `NotResource`; absent in trust policies.
    pub resource: Option<Patterns>,
    /// `Principal` or `NotPrincipal`; only in trust and resource policies.
    pub principal: Option<Principals>,
    /// The tests of the `Condition` element, all of which must hold.
    pub conditions: Vec<Condition>,
    /// Byte range of the statement in the policy text.
    pub span: (usize, usize),
}

/// A policy document that IAM would accept, as returned by [`parse`](crate::parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Version,
    pub(crate) version_given: bool,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    pub(crate) size: usize,
}

impl Policy {
    /// The kind the document was checked as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The language version (`2008-10-17` when the document has none).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the document has a `Version` element.
    pub fn has_version(&self) -> bool {
        self.version_given
    }

    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The size IAM counts against quotas: characters other than whitespace.
    pub fn size(&self) -> usize {
        self.size
    }
}
