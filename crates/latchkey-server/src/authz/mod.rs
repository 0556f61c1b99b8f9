//! Authorisation: every routed action asks here before it runs.
//!
//! The caller's identity-based policies and permissions boundary were
//! compiled and gathered when the snapshot was built; a decision borrows
//! them, builds the request's condition keys, and asks the policy engine.
//! The root user is all-powerful in its own account (SCPs aside) and nowhere
//! else.
//!
//! An allowing decision is an [`Authorized`] proof (action, resource, the
//! deciding statement), which every write and every successful answer
//! requires; a refusal is a [`Denied`]. `proof.rs` lists the only three
//! places a proof is made.

mod proof;

pub use proof::{Authorized, Basis, NO_PERMISSION_NEEDED};

use latchkey_model::{UniqueId, format_iso8601};
use latchkey_policy::{CompiledPolicy, Context, PolicyRef, PolicySet, Principal as PolicyPrincipal, PrincipalKind};

use crate::ApiError;
use crate::api::Ctx;
use crate::authn::{Caller, Principal};
use crate::state::Snapshot;

/// What is being asked: an IAM action name on a resource ARN, with the
/// action's own condition keys (`aws:RequestTag/…`, `aws:ResourceTag/…`, …).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `iam:CreateUser`
    pub action: &'a str,
    /// `arn:aws:iam::123456789012:user/alice`, or `*`
    pub resource: &'a str,
}

/// Facts about the request that become global condition keys.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    /// Client address (`aws:SourceIp`).
    pub source_ip: String,
    /// The credential scope's region (`aws:RequestedRegion`).
    pub region: String,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// Builds the global condition keys AWS sets for every request by `caller`.
pub fn base_context(snap: &Snapshot, caller: &Caller, facts: &RequestFacts, now: i64) -> Context {
    let mut c = Context::new();
    c.insert("aws:PrincipalArn", principal_arn(caller));
    c.insert("aws:PrincipalAccount", caller.account.to_string());
    c.insert("aws:userid", caller.user_id());
    c.insert("aws:SourceIp", facts.source_ip.clone());
    c.insert("aws:RequestedRegion", facts.region.clone());
    c.insert("aws:SecureTransport", if facts.secure_transport { "true" } else { "false" });
    c.insert("aws:CurrentTime", format_iso8601(now));
    c.insert("aws:EpochTime", now.to_string());
    let acct = snap.account(&caller.account);
    let mut tags: Vec<(String, String)> = Vec::new();
    match &caller.principal {
        Principal::Root => {
            c.insert("aws:PrincipalType", "Account");
        }
        Principal::User { name, id, .. } => {
            c.insert("aws:PrincipalType", "User");
            c.insert("aws:username", name.clone());
            let user = acct.and_then(|a| a.user_by_id(&UniqueId::from_stored(id.clone())));
            tags.extend(user.map_or(&[][..], |u| u.tags.as_slice()).iter().map(|t| (t.key.clone(), t.value.clone())));
        }
        Principal::FederatedUser { .. } => {
            c.insert("aws:PrincipalType", "FederatedUser");
        }
        Principal::AssumedRole { role_id, .. } => {
            c.insert("aws:PrincipalType", "AssumedRole");
            let role = acct.and_then(|a| a.role_by_id(&UniqueId::from_stored(role_id.clone())));
            tags.extend(role.map_or(&[][..], |r| r.role.tags.as_slice()).iter().map(|t| (t.key.clone(), t.value.clone())));
        }
    }
    if let Some(session) = &caller.session {
        // Session tags override the principal's own tags of the same key.
        for (k, v) in &session.tags {
            tags.retain(|(tk, _)| !tk.eq_ignore_ascii_case(k));
            tags.push((k.clone(), v.clone()));
        }
        c.insert("aws:TokenIssueTime", format_iso8601(session.issued_at));
        // AWS documents that GetSessionToken credentials carry MFA into later
        // requests and AssumeRole credentials do not.
        let carries = session.mfa_authenticated && matches!(session.kind, latchkey_token::SessionKind::SessionToken { .. });
        c.insert("aws:MultiFactorAuthPresent", if carries { "true" } else { "false" });
        if carries && let Some(t) = session.mfa_auth_time {
            c.insert("aws:MultiFactorAuthAge", (now - t).max(0).to_string());
        }
        if let Some(si) = &session.source_identity {
            c.insert("aws:SourceIdentity", si.clone());
        }
    }
    for (k, v) in tags {
        c.insert(&format!("aws:PrincipalTag/{k}"), v);
    }
    c
}

/// `aws:PrincipalArn`: for a role session, the role's ARN (as AWS sets it).
fn principal_arn(caller: &Caller) -> String {
    match &caller.principal {
        Principal::AssumedRole { role_arn, .. } => role_arn.clone(),
        _ => caller.arn(),
    }
}

/// What AWS lets each kind of temporary credentials call at all, before any
/// policy is consulted: GetSessionToken credentials reach IAM only with MFA
/// and STS only for AssumeRole and GetCallerIdentity; GetFederationToken
/// credentials reach no IAM action and only GetCallerIdentity in STS; no
/// session may mint GetSessionToken or GetFederationToken credentials.
pub fn session_gate(service: crate::protocol::Service, action: &str, caller: &Caller) -> Result<(), ApiError> {
    use crate::protocol::Service;
    use latchkey_token::SessionKind;
    let Some(session) = &caller.session else { return Ok(()) };
    if matches!(action, "GetSessionToken" | "GetFederationToken") && service == Service::Sts {
        return Err(ApiError::access_denied(format!("Cannot call {action} with session credentials")));
    }
    match (&session.kind, service) {
        (SessionKind::SessionToken { .. }, Service::Iam) if !session.mfa_authenticated => {
            // AWS answers exactly so: the token is not valid for IAM without MFA.
            Err(ApiError::invalid_client_token_id())
        }
        (SessionKind::SessionToken { .. }, Service::Sts) if !matches!(action, "AssumeRole" | "GetCallerIdentity") => {
            Err(ApiError::access_denied(format!("Credentials from GetSessionToken cannot call {action}")))
        }
        (SessionKind::FederatedUser { .. }, Service::Iam) => {
            Err(ApiError::access_denied("Credentials from GetFederationToken cannot call IAM"))
        }
        (SessionKind::FederatedUser { .. }, Service::Sts) if action != "GetCallerIdentity" => {
            Err(ApiError::access_denied(format!("Credentials from GetFederationToken cannot call {action}")))
        }
        _ => Ok(()),
    }
}

/// Allows or refuses `req` for the caller of `ctx`: the proof, or the
/// AccessDenied to send (see [`refusal`]).
pub fn authorize(ctx: &Ctx<'_>, req: Request<'_>) -> Result<Authorized, ApiError> {
    authorize_with(ctx, req, |_| {})
}

/// Like [`authorize`], with the action's own condition keys added by `extra`.
pub fn authorize_with(ctx: &Ctx<'_>, req: Request<'_>, extra: impl FnOnce(&mut Context)) -> Result<Authorized, ApiError> {
    let mut context = base_context(&ctx.snap, ctx.caller, &ctx.facts, ctx.now);
    extra(&mut context);
    decide(&ctx.snap, ctx.caller, req, None, &context).map_err(|d| refusal(ctx, req, d, &context))
}

/// A refusal, with the message AWS would send.
#[derive(Debug)]
pub struct Denied {
    /// `User: … is not authorized to perform: …`
    pub message: String,
    /// The policy type that refused or failed to allow.
    pub missing: Option<latchkey_policy::PolicyType>,
    /// Whether a Deny statement decided.
    pub explicit: bool,
    /// The engine's account of the decision, for the encoded message.
    pub explanation: Option<serde_json::Value>,
}

/// The purpose an encoded authorization message is sealed for.
const AUTHZ_MESSAGE: &str = "authz-message";

/// The AccessDenied for `denied`, carrying an encoded authorization message
/// (as EC2 does) unless the service was configured without them. The message
/// is sealed with the session-token keys, so only latchkey can read it, and
/// only for a caller of the same account (DecodeAuthorizationMessage).
pub fn refusal(ctx: &Ctx<'_>, req: Request<'_>, denied: Denied, context: &Context) -> ApiError {
    let Denied { message, explicit, explanation, .. } = denied;
    if !ctx.app.config.encode_authorization_messages {
        return ApiError::access_denied(message);
    }
    let Some(ring) = ctx.snap.token_ring.as_ref() else { return ApiError::access_denied(message) };
    let conditions: Vec<serde_json::Value> = context
        .iter()
        .map(|(k, vs)| {
            let values: Vec<serde_json::Value> = vs.iter().map(|v| serde_json::json!({ "value": &**v })).collect();
            serde_json::json!({ "key": k, "values": { "items": values } })
        })
        .collect();
    let decoded = serde_json::json!({
        "allowed": false,
        "explicitDeny": explicit,
        "matchedStatements": { "items": explanation.iter().collect::<Vec<_>>() },
        "failures": { "items": [] },
        "context": {
            "principal": { "id": ctx.caller.user_id(), "arn": ctx.caller.arn() },
            "action": req.action,
            "resource": req.resource,
            "conditions": { "items": conditions },
        },
        "reason": message,
    });
    let sealed = serde_json::json!({ "account": ctx.caller.account.to_string(), "message": decoded });
    match ring.seal_blob(sealed.to_string().as_bytes(), AUTHZ_MESSAGE) {
        Ok(blob) => ApiError::access_denied(format!("{message} Encoded authorization failure message: {blob}")),
        Err(_) => ApiError::access_denied(message),
    }
}

/// Opens an encoded authorization message with the keys of a data
/// directory, for its operator (`latchkey explain`): the whole sealed
/// record, account included.
pub fn open_message(ring: &latchkey_token::KeyRing, encoded: &str) -> Option<serde_json::Value> {
    let plain = ring.open_blob(encoded.trim(), AUTHZ_MESSAGE).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Opens an encoded authorization message for a caller of `account`.
pub fn decode_message(ctx: &Ctx<'_>, encoded: &str) -> Result<serde_json::Value, ApiError> {
    let invalid = || {
        ApiError::of(crate::ErrorCode::InvalidAuthorizationMessageException, "The encoded authorization message is invalid.")
    };
    let ring = ctx.snap.token_ring.as_ref().ok_or_else(invalid)?;
    let plain = ring.open_blob(encoded.trim(), AUTHZ_MESSAGE).map_err(|_| invalid())?;
    let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| invalid())?;
    // A message describes another account's request: not for this caller.
    if v.get("account").and_then(serde_json::Value::as_str) != Some(ctx.caller.account.to_string().as_str()) {
        return Err(invalid());
    }
    v.get("message").cloned().ok_or_else(invalid)
}

/// The unique id of the IAM entity behind the caller, which resource
/// policies bound to ids match: the user, a session's role, a federated
/// session's creating user.
fn entity_id(caller: &Caller) -> &str {
    match &caller.principal {
        Principal::Root => "",
        Principal::User { id, .. } => id,
        Principal::AssumedRole { role_id, .. } => role_id,
        Principal::FederatedUser { user_id, .. } => user_id.as_deref().unwrap_or_default(),
    }
}

/// The decision for an unauthenticated caller: only a resource-based
/// policy (an S3 bucket policy) can allow it, by naming `"*"`; nothing else
/// applies (no identity, no session, no SCP). `resource_policy` is the
/// policy's id, the policy, and the resource owner's account.
pub fn decide_anonymous(
    req: Request<'_>,
    resource_policy: Option<(&str, &CompiledPolicy, &str)>,
    context: &Context,
) -> Result<Authorized, Denied> {
    let denied = |message: String| Denied { message, missing: None, explicit: false, explanation: None };
    let Some((id, policy, owner)) = resource_policy else {
        return Err(denied(format!("Anonymous users are not authorized to perform: {} on resource: {}", req.action, req.resource)));
    };
    let set = PolicySet {
        identity: &[],
        boundary: None,
        session: None,
        resource: Some(PolicyRef { id, policy }),
        resource_account: owner,
        scps: &[],
    };
    let request = latchkey_policy::Request {
        principal: PolicyPrincipal { arn: "", id: "", account: "", kind: PrincipalKind::Anonymous },
        action: req.action,
        resource: req.resource,
        context,
    };
    let decision = latchkey_policy::evaluate(&set, &request);
    let explicit = matches!(decision.reason(), latchkey_policy::Reason::Denied(_));
    match decision.access_denied_message() {
        None => Authorized::decided(req.action, req.resource, decision.reason())
            .ok_or_else(|| denied(format!("Anonymous users are not authorized to perform: {} on resource: {}", req.action, req.resource))),
        Some(message) => Err(Denied { message, missing: None, explicit, explanation: None }),
    }
}

/// The policy engine's answer for `caller` doing `req`, with an optional
/// resource-based policy (a role's trust policy) owned by `resource`'s account:
/// the proof that it allowed `req`, or the refusal.
pub fn decide(
    snap: &Snapshot,
    caller: &Caller,
    req: Request<'_>,
    resource_policy: Option<(&str, &CompiledPolicy, &str)>,
    context: &Context,
) -> Result<Authorized, Denied> {
    let account = caller.account.to_string();
    let arn = caller.arn();
    let acct = snap.account(&caller.account);
    let (effective, kind) = match &caller.principal {
        Principal::Root => (None, PrincipalKind::Root),
        Principal::User { id, .. } => {
            (acct.and_then(|a| a.effective(&UniqueId::from_stored(id.clone()))).cloned(), PrincipalKind::User)
        }
        Principal::AssumedRole { role_id, role_arn, .. } => (
            acct.and_then(|a| a.effective(&UniqueId::from_stored(role_id.clone()))).cloned(),
            PrincipalKind::AssumedRole { role_arn },
        ),
        // A federated session has its creator's permissions, narrowed by its
        // session policies; one created by root starts from everything.
        Principal::FederatedUser { user_id, user_arn, .. } => (
            match user_id {
                Some(id) => acct.and_then(|a| a.effective(&UniqueId::from_stored(id.clone()))).cloned(),
                None => crate::state::aws_managed("arn:aws:iam::aws:policy/AdministratorAccess")
                    .map(|p| std::sync::Arc::new(crate::state::Effective { identity: vec![p.clone()], boundary: None })),
            },
            PrincipalKind::FederatedUser { user_arn },
        ),
    };
    // SCPs bind every principal of a member account, its root user included.
    let scp_levels = snap.org.levels(&caller.account);
    let scp_refs: Vec<Vec<PolicyRef<'_>>> = scp_levels
        .iter()
        .flatten()
        .map(|level| level.iter().map(|p| PolicyRef { id: &p.id, policy: &p.policy }).collect())
        .collect();
    let scps: Vec<&[PolicyRef<'_>]> = scp_refs.iter().map(Vec::as_slice).collect();

    if matches!(kind, PrincipalKind::Root) && resource_policy.is_none() {
        // The root user owns everything in its account, and may read what
        // AWS publishes to every account (AWS-managed policies).
        let own = match latchkey_model::Arn::parse(req.resource).map(|a| a.account) {
            None => req.resource == "*",
            Some(a) => a == account || a == "aws" || a.is_empty(),
        };
        if !own {
            return Err(Denied {
                message: format!("User: {arn} is not authorized to perform: {} on resource: {}", req.action, req.resource),
                missing: None,
                explicit: false,
                explanation: None,
            });
        }
        if scps.is_empty() {
            return Ok(Authorized::root_user(req.action, req.resource));
        }
    }
    // No policies: an empty set on the stack (allocating nothing).
    let none = crate::state::Effective::default();
    let effective: &crate::state::Effective = effective.as_deref().unwrap_or(&none);
    let identity: Vec<PolicyRef<'_>> = effective.identity.iter().map(|p| PolicyRef { id: &p.id, policy: &p.policy }).collect();
    let boundary = effective.boundary.as_ref().map(|p| PolicyRef { id: &p.id, policy: &p.policy });

    // Session policies narrow a role session; compiled here because they
    // live in the token, not the snapshot.
    let mut session_compiled: Vec<(String, std::sync::Arc<CompiledPolicy>)> = Vec::new();
    if let Some(s) = &caller.session {
        if let Some(doc) = &s.session_policy {
            let compiled = crate::state::policies::compile_session(doc);
            session_compiled.push(("session-policy".to_owned(), compiled));
        }
        for a in &s.policy_arns {
            if let Some(p) = acct.and_then(|x| x.managed(a)) {
                session_compiled.push((a.clone(), p.policy.clone()));
            } else {
                // A managed session policy deleted since: it allows nothing.
                session_compiled.push((a.clone(), crate::state::policies::DENY_ALL_SESSION.clone()));
            }
        }
    }
    let session_refs: Vec<PolicyRef<'_>> =
        session_compiled.iter().map(|(id, p)| PolicyRef { id: id.as_str(), policy: p }).collect();
    // A federated session without session policies has no permissions:
    // an empty (but present) set says so to the engine.
    let federated = matches!(caller.principal, Principal::FederatedUser { .. });
    let session = if session_refs.is_empty() && !federated { None } else { Some(session_refs.as_slice()) };
    let (resource, resource_account) = match resource_policy {
        Some((id, policy, owner)) => (Some(PolicyRef { id, policy }), owner),
        None => (None, ""),
    };
    let set = PolicySet { identity: &identity, boundary, session, resource, resource_account, scps: &scps };
    let request = latchkey_policy::Request {
        principal: PolicyPrincipal { arn: &arn, id: entity_id(caller), account: &account, kind },
        action: req.action,
        resource: req.resource,
        context,
    };
    let decision = latchkey_policy::evaluate(&set, &request);
    match decision.access_denied_message() {
        // An allow that names nothing that allowed it is refused: fail closed.
        None => Authorized::decided(req.action, req.resource, decision.reason()).ok_or_else(|| Denied {
            message: format!("User: {arn} is not authorized to perform: {} on resource: {}", req.action, req.resource),
            missing: None,
            explicit: false,
            explanation: None,
        }),
        Some(message) => {
            let (missing, explicit, explanation) = match decision.reason() {
                latchkey_policy::Reason::Denied(s) => (
                    Some(s.policy_type),
                    true,
                    Some(serde_json::json!({
                        "policyType": s.policy_type.aws_phrase(),
                        "policyId": s.policy_id,
                        "statementIndex": s.statement,
                        "statementId": s.sid,
                        "effect": "DENY",
                    })),
                ),
                latchkey_policy::Reason::NotAllowed(t) => {
                    (Some(t), false, Some(serde_json::json!({ "policyType": t.aws_phrase(), "effect": "NONE_ALLOWED" })))
                }
                _ => (None, false, None),
            };
            Err(Denied { message, missing, explicit, explanation })
        }
    }
}
