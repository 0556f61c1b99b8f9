//! Evaluation of one request against every policy that applies to it, following
//! the IAM User Guide's "Policy evaluation logic" and "Cross-account policy
//! evaluation logic".

use std::borrow::Cow;
use std::fmt;

use crate::compile::{Applies, CompiledPolicy, PrincipalMatch};
use crate::context::Context;
use crate::model::Effect;
#[cfg(doc)]
use crate::model::PolicyKind;

/// What kind of principal is making the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PrincipalKind<'a> {
    /// The account's root user (`arn:aws:iam::ACCT:root`).
    Root,
    /// An IAM user.
    User,
    /// A role session (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`), with the
    /// role's ARN (path included) as in `arn:aws:iam::ACCT:role/path/ROLE`.
    AssumedRole {
        /// The role's ARN.
        role_arn: &'a str,
    },
    /// A `GetFederationToken` session (`arn:aws:sts::ACCT:federated-user/NAME`),
    /// with the ARN of the IAM user (or root) that created it.
    FederatedUser {
        /// ARN of the user that called `GetFederationToken`.
        user_arn: &'a str,
    },
    /// An AWS service principal such as `ec2.amazonaws.com`.
    Service(&'a str),
    /// A web identity (OIDC) caller of `AssumeRoleWithWebIdentity`, with the
    /// provider as trust policies name it (`arn:aws:iam::ACCT:oidc-provider/HOST`
    /// or `accounts.google.com`, ...).
    WebIdentity {
        /// The identity provider.
        provider: &'a str,
    },
    /// A SAML caller of `AssumeRoleWithSAML`, with the SAML provider's ARN.
    Saml {
        /// The SAML provider's ARN.
        provider: &'a str,
    },
    /// An unauthenticated caller.
    Anonymous,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Principal<'a> {
    /// The caller's ARN (user, root, session ARN...); empty for anonymous callers.
    pub arn: &'a str,
    /// The unique id of the IAM entity behind the caller: the user's
    /// (`AIDA…`), a role session's role's (`AROA…`), a federated session's
    /// creating user's; empty for other callers. Resource policies whose
    /// principals are bound to ids match it.
    pub id: &'a str,
    /// The caller's account id; empty for service and anonymous callers.
    pub account: &'a str,
    /// The kind of caller.
    pub kind: PrincipalKind<'a>,
}

/// One authorisation question: may `principal` do `action` on `resource`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who is asking.
    pub principal: Principal<'a>,
    /// `service:Action`, matched case-insensitively (`iam:GetRole`).
    pub action: &'a str,
    /// The resource ARN (or `*` for actions without a resource), matched case-sensitively.
    pub resource: &'a str,
    /// Condition keys of the request.
    pub context: &'a Context,
}

/// A compiled policy with the name it is reported under.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    /// How explanations name the policy: its ARN, or `user/alice/inline-name`, ...
    pub id: &'a str,
    /// The policy.
    pub policy: &'a CompiledPolicy,
}

/// Every policy that applies to one request, grouped by type.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// The caller's identity-based policies: inline and managed policies of the
    /// user or role, and of the user's groups.
    pub identity: &'a [PolicyRef<'a>],
    /// The resource-based policy of the resource (a role's trust policy for
    /// `sts:AssumeRole*`, `sts:TagSession`, `sts:SetSourceIdentity`). The kind
    /// it was compiled as decides its part: a [`PolicyKind::Trust`] policy
    /// must allow the caller in every case (see
    /// [`PolicyKind::must_allow_principal`]); any other resource policy
    /// follows the same-account / cross-account rule.
    pub resource: Option<PolicyRef<'a>>,
    /// The caller's permissions boundary, if it has one.
    pub boundary: Option<PolicyRef<'a>>,
    /// Session policies: `None` when the caller is not a session or the session
    /// was created without session policies (a role session is then not
    /// limited); `Some(&[])` for a federated-user session created without one
    /// (which therefore has no permissions).
    pub session: Option<&'a [PolicyRef<'a>]>,
    /// SCPs for member accounts, one slice per organisation node from the root
    /// down to the account; each node must allow. Empty when SCPs do not apply
    /// (management account, service principals).
    pub scps: &'a [&'a [PolicyRef<'a>]],
    /// The account that owns the resource; an empty string means the caller's own.
    pub resource_account: &'a str,
}

/// The types of policy, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PolicyType {
    /// Identity-based policies.
    Identity,
    /// The resource-based (or trust) policy.
    Resource,
    /// The permissions boundary.
    Boundary,
    /// Session policies.
    Session,
    /// Service control policies.
    Scp,
}

impl PolicyType {
    /// The phrase AWS uses in access-denied messages ("identity-based policy", ...).
    pub fn aws_phrase(self) -> &'static str {
        match self {
            Self::Identity => "identity-based policy",
            Self::Resource => "resource-based policy",
            Self::Boundary => "permissions boundary",
            Self::Session => "session policy",
            Self::Scp => "service control policy",
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aws_phrase())
    }
}

/// A statement that matched the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatementRef<'a> {
    /// The type of the policy holding the statement.
    pub policy_type: PolicyType,
    /// The policy's id as given in the [`PolicyRef`].
    pub policy_id: &'a str,
    /// Index of the statement in the policy (0-based).
    pub statement: usize,
    /// The statement's `Sid`, if any.
    pub sid: Option<&'a str>,
    /// The statement's effect.
    pub effect: Effect,
    /// For resource policies: how the `Principal` named the caller.
    pub principal_match: Option<PrincipalMatch>,
}

impl fmt::Display for StatementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`, statement {}",
            self.policy_type, self.policy_id, self.statement
        )?;
        if let Some(sid) = self.sid {
            write!(f, " (`{sid}`)")?;
        }
        Ok(())
    }
}

/// The final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Verdict {
    /// The request is allowed.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// Nothing required allowed the request.
    ImplicitDeny,
}

/// Why the verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Reason<'a> {
    /// Allowed; the statement that granted (the resource policy's when it
    /// granted on its own or across accounts, otherwise the identity policy's).
    Allowed(StatementRef<'a>),
    /// Allowed because the caller is the root user of the resource's account.
    RootUser,
    /// Denied by this statement.
    Denied(StatementRef<'a>),
    /// No statement of this policy type allowed the request.
    NotAllowed(PolicyType),
}

/// What each policy type said about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub enum Outcome {
    /// No policy of this type applies to the request.
    #[default]
    Absent,
    /// Policies exist but no statement matched.
    NoMatch,
    /// An `Allow` statement matched (for SCPs: at every level).
    Allowed,
    /// A `Deny` statement matched.
    Denied,
}

/// The outcome per policy type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Outcomes {
    /// Identity-based policies.
    pub identity: Outcome,
    /// Resource-based (trust) policy.
    pub resource: Outcome,
    /// Permissions boundary.
    pub boundary: Outcome,
    /// Session policies.
    pub session: Outcome,
    /// Service control policies.
    pub scp: Outcome,
}

impl Outcomes {
    /// The outcome of one policy type.
    pub fn get(&self, t: PolicyType) -> Outcome {
        match t {
            PolicyType::Identity => self.identity,
            PolicyType::Resource => self.resource,
            PolicyType::Boundary => self.boundary,
            PolicyType::Session => self.session,
            PolicyType::Scp => self.scp,
        }
    }
}

/// The result of [`evaluate`] or [`explain`]; prints as a sentence and
/// serialises for `DecodeAuthorizationMessage`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision<'a> {
    verdict: Verdict,
    reason: Reason<'a>,
    outcomes: Outcomes,
    /// Every matching statement, filled by [`explain`] only.
    matched: Vec<StatementRef<'a>>,
    action: &'a str,
    resource: &'a str,
    principal: &'a str,
}

impl<'a> Decision<'a> {
    /// Allow, explicit deny or implicit deny.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// What decided.
    pub fn reason(&self) -> Reason<'a> {
        self.reason
    }

    /// What each policy type said. When evaluation stopped at an explicit deny,
    /// types after it may still read [`Outcome::NoMatch`].
    pub fn outcomes(&self) -> Outcomes {
        self.outcomes
    }

    /// Every matching statement, in evaluation order (SCPs, resource, identity,
    /// boundary, session); empty unless the decision came from [`explain`].
    pub fn matched(&self) -> &[StatementRef<'a>] {
        &self.matched
    }

    /// The message AWS sends with `AccessDenied`:
    /// `User: ARN is not authorized to perform: ACTION on resource: RES because no
    /// identity-based policy allows the ACTION action` (or `with an explicit deny
    /// in a service control policy`, ...). `None` when allowed.
    pub fn access_denied_message(&self) -> Option<String> {
        let who = if self.principal.is_empty() {
            "anonymous"
        } else {
            self.principal
        };
        let head = format!(
            "User: {who} is not authorized to perform: {} on resource: {}",
            self.action, self.resource
        );
        match self.reason {
            Reason::Allowed(_) | Reason::RootUser => None,
            Reason::Denied(s) => {
                let t = s.policy_type;
                let article = if t == PolicyType::Identity { "an" } else { "a" };
                Some(format!("{head} with an explicit deny in {article} {t}"))
            }
            Reason::NotAllowed(t) => Some(format!(
                "{head} because no {t} allows the {} action",
                self.action
            )),
        }
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Allowed(s) => {
                write!(f, "allowed `{}` on `{}` by {s}", self.action, self.resource)
            }
            Reason::RootUser => write!(
                f,
                "allowed `{}` on `{}`: the root user has full access to its own account",
                self.action, self.resource
            ),
            Reason::Denied(s) => write!(
                f,
                "explicitly denied `{}` on `{}` by {s}",
                self.action, self.resource
            ),
            Reason::NotAllowed(t) => write!(
                f,
                "implicitly denied: no {t} allows `{}` on `{}`",
                self.action, self.resource
            ),
        }
    }
}

/// Evaluates a request; allocation-free unless a policy needs it (see the crate docs).
pub fn evaluate<'a>(set: &PolicySet<'a>, req: &Request<'a>) -> Decision<'a> {
    let mut buf = [0u8; 128];
    let action = lower_action(req.action, &mut buf);
    Evaluator::new(set, req, &action, Mode::Enforce).run()
}

/// Like [`evaluate`], but also records every matching statement (for the IAM
/// policy simulator's `MatchedStatements` and for explanations); never stops early.
pub fn explain<'a>(set: &PolicySet<'a>, req: &Request<'a>) -> Decision<'a> {
    let mut buf = [0u8; 128];
    let action = lower_action(req.action, &mut buf);
    Evaluator::new(set, req, &action, Mode::Explain).run()
}

/// Like [`explain`], as the IAM policy simulator evaluates: a request
/// resource of `*` means the caller did not name one (`ResourceArns`
/// omitted), so it stands for any resource and every `Resource` element
/// matches it. In enforcement `*` is the resource of actions that have none,
/// which only a `*` pattern matches; hence a separate entry point.
pub fn simulate<'a>(set: &PolicySet<'a>, req: &Request<'a>) -> Decision<'a> {
    let mut buf = [0u8; 128];
    let action = lower_action(req.action, &mut buf);
    Evaluator::new(set, req, &action, Mode::Simulate).run()
}

/// How an evaluation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Stop at the first explicit deny; record nothing.
    Enforce,
    /// Record every matching statement.
    Explain,
    /// As `Explain`, with `*` as the request resource standing for any resource.
    Simulate,
}

/// The first deny and the strongest allow of one policy.
#[derive(Debug, Default, Clone, Copy)]
struct Scan<'a> {
    deny: Option<StatementRef<'a>>,
    allow: Option<StatementRef<'a>>,
}

struct Evaluator<'s, 'a> {
    set: &'s PolicySet<'a>,
    req: &'s Request<'a>,
    action: &'s str,
    collect: bool,
    any_resource: bool,
    matched: Vec<StatementRef<'a>>,
}

/// Actions are matched case-insensitively against patterns lower-cased at
/// compile time; lower-casing the request's action once into a stack buffer
/// keeps the common case free of allocation.
fn lower_action<'s>(action: &'s str, buf: &'s mut [u8; 128]) -> Cow<'s, str> {
    if !action.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(action);
    }
    if action.is_ascii()
        && let Some(dst) = buf.get_mut(..action.len())
    {
        dst.copy_from_slice(action.as_bytes());
        dst.make_ascii_lowercase();
        if let Ok(s) = std::str::from_utf8(dst) {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(action.to_lowercase())
}

impl<'s, 'a> Evaluator<'s, 'a> {
    fn new(set: &'s PolicySet<'a>, req: &'s Request<'a>, action: &'s str, mode: Mode) -> Self {
        Self {
            set,
            req,
            action,
            collect: mode != Mode::Enforce,
            any_resource: mode == Mode::Simulate && req.resource == "*",
            matched: Vec::new(),
        }
    }

    fn scan(&mut self, p: &PolicyRef<'a>, t: PolicyType, resource_policy: bool) -> Scan<'a> {
        let mut out = Scan::default();
        let principal = resource_policy.then_some(&self.req.principal);
        for (i, st) in p.policy.statements().iter().enumerate() {
            let Applies::Yes(how) =
                st.applies(
                    self.action,
                    self.req.resource,
                    self.any_resource,
                    principal,
                    self.req.context,
                )
            else {
                continue;
            };
            let r = StatementRef {
                policy_type: t,
                policy_id: p.id,
                statement: i,
                sid: st.sid.as_deref(),
                effect: st.effect,
                principal_match: how,
            };
            if self.collect {
                self.matched.push(r);
            }
            match st.effect {
                Effect::Deny => {
                    if out.deny.is_none() {
                        out.deny = Some(r);
                    }
                    if !self.collect {
                        return out;
                    }
                }
                Effect::Allow => {
                    if out.allow.is_none_or(|a| how > a.principal_match) {
                        out.allow = Some(r);
                    }
                }
            }
        }
        out
    }

    fn scan_all(&mut self, policies: &[PolicyRef<'a>], t: PolicyType) -> Scan<'a> {
        let mut out = Scan::default();
        for p in policies {
            let s = self.scan(p, t, false);
            out.deny = out.deny.or(s.deny);
            out.allow = out.allow.or(s.allow);
            if out.deny.is_some() && !self.collect {
                break;
            }
        }
        out
    }

    fn run(mut self) -> Decision<'a> {
        let set = self.set;
        let principal = self.req.principal;
        let mut outcomes = Outcomes::default();
        let mut deny: Option<StatementRef<'a>> = None;

        // 1. Every policy is scanned for an explicit deny, which wins over anything.
        let mut scp_missing = false;
        if !set.scps.is_empty() {
            outcomes.scp = Outcome::Allowed;
            for level in set.scps {
                let s = self.scan_all(level, PolicyType::Scp);
                deny = deny.or(s.deny);
                if s.allow.is_none() {
                    scp_missing = true;
                    outcomes.scp = Outcome::NoMatch;
                }
                if deny.is_some() && !self.collect {
                    break;
                }
            }
        }
        let mut resource = Scan::default();
        if let Some(p) = &set.resource
            && (deny.is_none() || self.collect)
        {
            resource = self.scan(p, PolicyType::Resource, true);
            deny = deny.or(resource.deny);
            outcomes.resource = outcome(&resource);
        }
        let mut identity = Scan::default();
        if !set.identity.is_empty() && (deny.is_none() || self.collect) {
            identity = self.scan_all(set.identity, PolicyType::Identity);
            deny = deny.or(identity.deny);
            outcomes.identity = outcome(&identity);
        }
        let mut boundary = Scan::default();
        if let Some(p) = &set.boundary
            && (deny.is_none() || self.collect)
        {
            boundary = self.scan(p, PolicyType::Boundary, false);
            deny = deny.or(boundary.deny);
            outcomes.boundary = outcome(&boundary);
        }
        let mut session = Scan::default();
        if let Some(list) = set.session
            && (deny.is_none() || self.collect)
        {
            session = self.scan_all(list, PolicyType::Session);
            deny = deny.or(session.deny);
            outcomes.session = outcome(&session);
        }
        if let Some(d) = deny {
            if d.policy_type == PolicyType::Scp {
                outcomes.scp = Outcome::Denied;
            }
            return self.finish(Verdict::ExplicitDeny, Reason::Denied(d), outcomes);
        }

        // 2. Each level of the organisation must allow.
        if scp_missing {
            return self.finish(
                Verdict::ImplicitDeny,
                Reason::NotAllowed(PolicyType::Scp),
                outcomes,
            );
        }

        let same_account =
            set.resource_account.is_empty() || set.resource_account == principal.account;
        let allow = |r: StatementRef<'a>| (Verdict::Allow, Reason::Allowed(r));
        let not_allowed = |t: PolicyType| (Verdict::ImplicitDeny, Reason::NotAllowed(t));

        // The principal's own side: identity ∧ boundary ∧ session.
        let own_side = |skip_identity: bool| -> Result<Option<StatementRef<'a>>, PolicyType> {
            let granted = if skip_identity {
                None
            } else {
                Some(identity.allow.ok_or(PolicyType::Identity)?)
            };
            if set.boundary.is_some() && boundary.allow.is_none() {
                return Err(PolicyType::Boundary);
            }
            if set.session.is_some() && session.allow.is_none() {
                return Err(PolicyType::Session);
            }
            Ok(granted)
        };

        // A role trust policy is a gate, not one of two ways in: it must allow
        // the caller whatever the identity policies say.
        let gate = set
            .resource
            .is_some_and(|p| p.policy.kind().must_allow_principal());

        let (verdict, reason) = match principal.kind {
            // These callers have no identity policies: only a resource policy can grant.
            PrincipalKind::Service(_)
            | PrincipalKind::WebIdentity { .. }
            | PrincipalKind::Saml { .. }
            | PrincipalKind::Anonymous => match resource.allow {
                Some(r) => allow(r),
                None => not_allowed(PolicyType::Resource),
            },
            PrincipalKind::Root if same_account && !gate => (Verdict::Allow, Reason::RootUser),
            PrincipalKind::Root => match resource.allow {
                Some(r) => allow(r),
                None => not_allowed(PolicyType::Resource),
            },
            _ if same_account => match resource.allow {
                // Named directly (user, session, everyone): the resource policy
                // grants on its own, past identity policies, boundary and session policies.
                Some(r) if r.principal_match == Some(PrincipalMatch::Direct) => allow(r),
                // Named through the role (or user) behind a session: the session's
                // boundary and session policies still limit it.
                Some(r) if r.principal_match == Some(PrincipalMatch::Parent) => {
                    match own_side(true) {
                        Ok(_) => allow(r),
                        Err(t) => not_allowed(t),
                    }
                }
                // A trust policy that does not name the caller refuses on its own.
                None if gate => not_allowed(PolicyType::Resource),
                // Named through the account, or (an ordinary resource policy)
                // not at all: identity policies decide.
                _ => match own_side(false) {
                    Ok(Some(g)) => allow(g),
                    Ok(None) => not_allowed(PolicyType::Identity),
                    Err(t) => not_allowed(t),
                },
            },
            // Across accounts both sides must allow.
            _ => match resource.allow {
                None => not_allowed(PolicyType::Resource),
                Some(r) => match own_side(false) {
                    Ok(_) => allow(r),
                    Err(t) => not_allowed(t),
                },
            },
        };
        self.finish(verdict, reason, outcomes)
    }

    fn finish(self, verdict: Verdict, reason: Reason<'a>, outcomes: Outcomes) -> Decision<'a> {
        Decision {
            verdict,
            reason,
            outcomes,
            matched: self.matched,
            action: self.req.action,
            resource: self.req.resource,
            principal: self.req.principal.arn,
        }
    }
}

fn outcome(s: &Scan<'_>) -> Outcome {
    if s.deny.is_some() {
        Outcome::Denied
    } else if s.allow.is_some() {
        Outcome::Allowed
    } else {
        Outcome::NoMatch
    }
}
