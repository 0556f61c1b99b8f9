//! Policies compiled for evaluation: every pattern turned into a matcher once.

use std::sync::Arc;

use crate::condition::CompiledCondition;
use crate::context::Context;
use crate::error::PolicyError;
use crate::eval::{Principal, PrincipalKind};
use crate::glob::{GlobScratch, GlobSet};
use crate::model::{Effect, Policy, PolicyKind, PrincipalEntry, Version};
use crate::template::Template;

/// A policy ready for evaluation. Immutable, `Send + Sync`; wrap it in an
/// [`Arc`] (see [`CompiledPolicy::into_shared`]) to share it between requests.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    kind: PolicyKind,
    statements: Box<[CompiledStatement]>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    pub(crate) sid: Option<Box<str>>,
    pub(crate) effect: Effect,
    actions: GlobSet,
    not_action: bool,
    resources: Option<Resources>,
    principals: Option<Principals>,
    conditions: Box<[CompiledCondition]>,
}

#[derive(Debug, Clone)]
struct Resources {
    negated: bool,
    plain: GlobSet,
    /// Patterns with policy variables, resolved per request.
    templates: Vec<Template>,
}

/// Buffers reused while compiling the statements of one policy.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    globs: GlobScratch,
}

/// How a resource policy's `Principal` named the caller; decides whether the
/// resource policy's allow stands on its own within an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum PrincipalMatch {
    /// Through the caller's account (`123456789012` or `arn:aws:iam::123456789012:root`):
    /// a delegation to the account, whose identity policies must still allow.
    Account,
    /// Through the role (or IAM user) behind a session: the session's boundary
    /// and session policies still apply.
    Parent,
    /// The caller itself, or everyone (`*`).
    Direct,
}

/// A statement's elements as borrowed text, from either the checked model or
/// the parser's raw form (which lets [`CompiledPolicy::parse`] skip building
/// the owned model).
pub(crate) struct StatementParts<'s, A, R> {
    pub(crate) sid: Option<&'s str>,
    pub(crate) effect: Effect,
    pub(crate) not_action: bool,
    pub(crate) actions: A,
    pub(crate) resources: Option<(bool, R)>,
    pub(crate) principals: Option<Principals>,
    pub(crate) conditions: Box<[CompiledCondition]>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Principals {
    negated: bool,
    everyone: bool,
    accounts: Vec<Box<str>>,
    arns: Vec<Box<str>>,
    /// IAM users and roles named by ARN, bound to the unique ids they had
    /// when the policy was saved (see [`CompiledPolicy::bind_principals`]).
    ids: Vec<Box<str>>,
    services: Vec<Box<str>>,
    federated: Vec<Box<str>>,
}

impl Principals {
    pub(crate) fn new(p: &crate::model::Principals) -> Self {
        let mut everyone = false;
        let entries = p.entries.iter().filter_map(|entry| match entry {
            PrincipalEntry::Everyone => {
                everyone = true;
                None
            }
            PrincipalEntry::Aws(v) => Some(("AWS", v.as_str())),
            PrincipalEntry::Service(v) => Some(("Service", v.as_str())),
            PrincipalEntry::Federated(v) => Some(("Federated", v.as_str())),
            PrincipalEntry::CanonicalUser(v) => Some(("CanonicalUser", v.as_str())),
        });
        let mut out = Self::from_entries(p.negated, false, entries);
        out.everyone |= everyone;
        out
    }

    /// From `(type as written, value)` entries; `star` for `"Principal": "*"`.
    pub(crate) fn from_entries<'e>(
        negated: bool,
        star: bool,
        entries: impl Iterator<Item = (&'e str, &'e str)>,
    ) -> Self {
        let mut out = Self {
            negated,
            everyone: star,
            ..Self::default()
        };
        for (kind, v) in entries {
            match kind {
                "AWS" if v == "*" => out.everyone = true,
                "AWS" => {
                    if let Some(account) = account_of_root(v) {
                        out.accounts.push(account.into());
                    } else {
                        out.arns.push(v.into());
                    }
                }
                "Service" => out.services.push(v.into()),
                "Federated" => out.federated.push(v.into()),
                // Canonical user ids are S3's own identities; no latchkey principal has one.
                _ => {}
            }
        }
        out
    }

    fn has_arn(&self, arn: &str) -> bool {
        !arn.is_empty() && self.arns.iter().any(|a| **a == *arn)
    }

    fn has_account(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| **a == *account)
    }

    /// Whether the entity behind the caller is named: by its ARN, or, once
    /// bound, by the unique id the named entity had.
    fn has_entity(&self, arn: &str, id: &str) -> bool {
        self.has_arn(arn) || (!id.is_empty() && self.ids.iter().any(|i| **i == *id))
    }

    fn bind<'b>(&mut self, bindings: &dyn Fn(&str) -> Option<&'b str>) {
        let mut kept = Vec::with_capacity(self.arns.len());
        for arn in std::mem::take(&mut self.arns) {
            if !names_iam_entity(&arn) {
                kept.push(arn);
            } else if let Some(id) = bindings(&arn) {
                self.ids.push(id.into());
            }
            // An entity ARN without a binding named nobody when the policy
            // was saved, so it matches nobody now.
        }
        self.arns = kept;
    }

    /// How (if at all) the entries name `p`; the strongest way wins.
    fn matches(&self, p: &Principal<'_>) -> Option<PrincipalMatch> {
        if self.everyone {
            return Some(PrincipalMatch::Direct);
        }
        let account = || {
            self.has_account(p.account)
                .then_some(PrincipalMatch::Account)
        };
        match p.kind {
            PrincipalKind::Root => self
                .has_account(p.account)
                .then_some(PrincipalMatch::Direct),
            PrincipalKind::User => {
                if self.has_entity(p.arn, p.id) {
                    Some(PrincipalMatch::Direct)
                } else {
                    account()
                }
            }
            PrincipalKind::AssumedRole { role_arn } => {
                if self.has_arn(p.arn) {
                    Some(PrincipalMatch::Direct)
                } else if self.has_entity(role_arn, p.id) {
                    Some(PrincipalMatch::Parent)
                } else {
                    account()
                }
            }
            PrincipalKind::FederatedUser { user_arn } => {
                if self.has_arn(p.arn) {
                    Some(PrincipalMatch::Direct)
                } else if self.has_entity(user_arn, p.id) {
                    Some(PrincipalMatch::Parent)
                } else {
                    account()
                }
            }
            PrincipalKind::Service(name) => self
                .services
                .iter()
                .any(|s| **s == *name)
                .then_some(PrincipalMatch::Direct),
            PrincipalKind::WebIdentity { provider } | PrincipalKind::Saml { provider } => self
                .federated
                .iter()
                .any(|f| **f == *provider)
                .then_some(PrincipalMatch::Direct),
            PrincipalKind::Anonymous => None,
        }
    }

    /// For `NotPrincipal`: whether `p` is excluded from the statement. IAM checks
    /// every identity in the caller's chain, so a user or session is excluded only
    /// when its account is listed too (and the account alone excludes only root).
    fn excludes(&self, p: &Principal<'_>) -> bool {
        if self.everyone {
            return true;
        }
        match p.kind {
            PrincipalKind::Root => self.has_account(p.account),
            PrincipalKind::User => self.has_entity(p.arn, p.id) && self.has_account(p.account),
            PrincipalKind::AssumedRole { role_arn } => {
                (self.has_arn(p.arn) || self.has_entity(role_arn, p.id))
                    && self.has_account(p.account)
            }
            PrincipalKind::FederatedUser { .. } => {
                self.has_arn(p.arn) && self.has_account(p.account)
            }
            PrincipalKind::Service(name) => self.services.iter().any(|s| **s == *name),
            PrincipalKind::WebIdentity { provider } | PrincipalKind::Saml { provider } => {
                self.federated.iter().any(|f| **f == *provider)
            }
            PrincipalKind::Anonymous => false,
        }
    }
}

/// Whether `arn` names an IAM user or role (`arn:aws:iam::ACCT:user/…`,
/// `…:role/…`): the principals AWS binds to unique ids.
pub fn names_iam_entity(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return false;
    };
    let Some((_, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((_, resource)) = rest.split_once(':') else {
        return false;
    };
    resource.starts_with("user/") || resource.starts_with("role/")
}

/// `123456789012` or `arn:<partition>:iam::123456789012:root` → the account id.
fn account_of_root(v: &str) -> Option<&str> {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(v);
    }
    let rest = v.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// What a statement says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applies {
    No,
    Yes(Option<PrincipalMatch>),
}

impl CompiledStatement {
    fn new(st: &crate::model::Statement, variables: bool, scratch: &mut Scratch) -> Self {
        Self::from_parts(
            StatementParts {
                sid: st.sid.as_deref(),
                effect: st.effect,
                not_action: st.action.negated,
                actions: st.action.values.iter().map(String::as_str),
                resources: st
                    .resource
                    .as_ref()
                    .map(|r| (r.negated, r.values.iter().map(String::as_str))),
                principals: st.principal.as_ref().map(Principals::new),
                conditions: st
                    .conditions
                    .iter()
                    .map(|c| CompiledCondition::new(c, variables))
                    .collect(),
            },
            variables,
            scratch,
        )
    }

    pub(crate) fn from_parts<'s>(
        parts: StatementParts<'s, impl Iterator<Item = &'s str>, impl Iterator<Item = &'s str>>,
        variables: bool,
        scratch: &mut Scratch,
    ) -> Self {
        let actions = GlobSet::build(parts.actions, true, &mut scratch.globs);
        let resources = parts.resources.map(|(negated, values)| {
            let mut templates = Vec::new();
            let plain = GlobSet::build(
                values.filter(|&v| {
                    if variables && crate::template::has_variable(v) {
                        let t = Template::parse(v, variables);
                        // A template without a well-formed variable is its text
                        // as written, so it joins the plain patterns unchanged.
                        if t.as_plain().is_none() {
                            templates.push(t);
                            return false;
                        }
                    }
                    true
                }),
                false,
                &mut scratch.globs,
            );
            Resources {
                negated,
                plain,
                templates,
            }
        });
        Self {
            sid: parts.sid.map(Into::into),
            effect: parts.effect,
            actions,
            not_action: parts.not_action,
            resources,
            principals: parts.principals,
            conditions: parts.conditions,
        }
    }

    /// `action` must already be lower-case. With `any_resource` the request
    /// names no particular resource (the simulator's `*`): a `Resource`
    /// element matches it, and a `NotResource` element excludes it only when
    /// it lists `*`.
    pub(crate) fn applies(
        &self,
        action: &str,
        resource: &str,
        any_resource: bool,
        principal: Option<&Principal<'_>>,
        ctx: &Context,
    ) -> Applies {
        if self.actions.is_match(action) == self.not_action {
            return Applies::No;
        }
        if let Some(r) = &self.resources {
            let hit = (any_resource && !r.negated)
                || r.plain.is_match(resource)
                || r.templates
                    .iter()
                    .any(|t| t.resolve(ctx).is_some_and(|x| x.glob(resource)));
            if hit == r.negated {
                return Applies::No;
            }
        }
        let how = match (principal, &self.principals) {
            (None, _) => None,
            // A statement without a principal grants nobody anything through a
            // resource policy.
            (Some(_), None) => return Applies::No,
            (Some(p), Some(ps)) if ps.negated => {
                if ps.excludes(p) {
                    return Applies::No;
                }
                Some(PrincipalMatch::Direct)
            }
            (Some(p), Some(ps)) => match ps.matches(p) {
                Some(m) => Some(m),
                None => return Applies::No,
            },
        };
        if !self.conditions.iter().all(|c| c.holds(ctx)) {
            return Applies::No;
        }
        Applies::Yes(how)
    }
}

impl CompiledPolicy {
    /// Compiles a checked policy.
    pub fn new(policy: &Policy) -> Self {
        let variables = policy.version() == Version::V2012_10_17;
        let mut scratch = Scratch::default();
        Self {
            kind: policy.kind(),
            statements: policy
                .statements()
                .iter()
                .map(|s| CompiledStatement::new(s, variables, &mut scratch))
                .collect(),
        }
    }

    /// Parses, validates and compiles in one step (without building a [`Policy`]).
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        crate::parse::parse_compiled(text, kind)
    }

    pub(crate) fn from_statements(kind: PolicyKind, statements: Box<[CompiledStatement]>) -> Self {
        Self { kind, statements }
    }

    /// The kind the policy was checked as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the policy has no statements (never true for a parsed policy).
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The `Sid` of statement `index`, if it has one.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.statements.get(index).and_then(|s| s.sid.as_deref())
    }

    /// Binds every `Principal` and `NotPrincipal` that names an IAM user or
    /// role by ARN to the unique id `bindings` gives for that ARN: the id
    /// the entity had when the policy was saved. AWS does the same ("AWS
    /// JSON policy elements: Principal"): a user or role deleted and
    /// recreated under the same name is another principal, which the policy
    /// no longer names. An entity ARN `bindings` knows nothing of matches
    /// nobody. Session ARNs, accounts, services and federated providers are
    /// not entities and keep matching by name.
    pub fn bind_principals<'b>(&mut self, bindings: &dyn Fn(&str) -> Option<&'b str>) {
        for st in &mut self.statements {
            if let Some(p) = &mut st.principals {
                p.bind(bindings);
            }
        }
    }

    /// Wraps the policy for sharing.
    pub fn into_shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    pub(crate) fn statements(&self) -> &[CompiledStatement] {
        &self.statements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_policies_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledPolicy>();
    }

    #[test]
    fn root_forms() {
        assert_eq!(account_of_root("123456789012"), Some("123456789012"));
        assert_eq!(
            account_of_root("arn:aws:iam::123456789012:root"),
            Some("123456789012")
        );
        assert_eq!(account_of_root("arn:aws:iam::123456789012:user/root"), None);
    }
}
