//! The IAM policy simulator: SimulatePrincipalPolicy and SimulateCustomPolicy
//! answer with the same engine and the same policies that enforce requests,
//! so a simulation agrees with what latchkey would do.

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_model::OwnerKind;
use latchkey_policy::{CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Verdict};

use super::{Page, account, check_arn};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Authorized, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::policies::NamedPolicy;

/// Policies given in the request, compiled, named as AWS names them; their
/// documents are recorded in `docs` for positions and context keys.
fn input_policies(
    ctx: &Ctx<'_>,
    list: &str,
    kind: PolicyKind,
    docs: &mut HashMap<String, (String, PolicyKind)>,
) -> Result<Vec<NamedPolicy>, ApiError> {
    ctx.params
        .list(list)
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let compiled = CompiledPolicy::parse(doc, kind).map_err(|e| ApiError::from(&e))?;
            let id = format!("{list}.{}", i + 1);
            docs.insert(id.clone(), (doc.to_owned(), kind));
            Ok(NamedPolicy { id: Arc::from(id.as_str()), policy: Arc::new(compiled) })
        })
        .collect()
}

/// 1-based line and column of a byte offset, as the simulator reports positions.
fn position(doc: &str, offset: usize) -> (usize, usize) {
    let before = doc.get(..offset).unwrap_or(doc);
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |i| before.get(i + 1..).map_or(0, |t| t.chars().count())) + 1;
    (line, column)
}

/// The documents of the simulated policies, parsed again for what the
/// compiled form does not keep: statement spans and condition keys.
struct Sources {
    parsed: HashMap<String, (String, latchkey_policy::Policy)>,
}

impl Sources {
    fn new(docs: HashMap<String, (String, PolicyKind)>) -> Self {
        let parsed = docs
            .into_iter()
            .filter_map(|(id, (doc, kind))| latchkey_policy::parse(&doc, kind).ok().map(|p| (id, (doc, p))))
            .collect();
        Self { parsed }
    }

    /// Start and end positions of statement `index` of policy `id`.
    fn span(&self, id: &str, index: usize) -> Option<((usize, usize), (usize, usize))> {
        let (doc, p) = self.parsed.get(id)?;
        let (start, end) = p.statements().get(index)?.span;
        Some((position(doc, start), position(doc, end)))
    }

    /// Condition keys the policies use that the request context lacks.
    fn missing(&self, context: &Context) -> Vec<String> {
        let mut keys: Vec<String> = self
            .parsed
            .values()
            .flat_map(|(_, p)| p.statements().iter().flat_map(|s| s.conditions.iter().map(|c| c.key.clone())))
            .filter(|k| context.get(k).is_none())
            .collect();
        keys.sort_by_key(|k| k.to_lowercase());
        keys.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        keys
    }
}

/// `ContextEntries.member.N.{ContextKeyName, ContextKeyValues.member.M}`.
fn context_entries(ctx: &Ctx<'_>, base: &mut Context) {
    for i in 1.. {
        let Some(name) = ctx.params.get(&format!("ContextEntries.member.{i}.ContextKeyName")) else { break };
        let values = ctx.params.list(&format!("ContextEntries.member.{i}.ContextKeyValues"));
        base.insert_multi(name, values.into_iter().map(str::to_owned));
    }
}

/// AWS's PolicySourceType for a policy id.
fn source_type(id: &str) -> &'static str {
    if id.starts_with("arn:aws:iam::aws:policy/") {
        "aws-managed"
    } else if id.starts_with("arn:aws:iam::") {
        "user-managed"
    } else if let Some((kind, _)) = id.split_once('/') {
        match kind {
            "user" => "user",
            "group" => "group",
            "role" => "role",
            _ => "none",
        }
    } else if id.starts_with("ResourcePolicy") {
        "resource"
    } else {
        "IAM Policy"
    }
}

/// A statement that matched, where it stands in its document.
struct Matched {
    id: String,
    kind: &'static str,
    span: Option<((usize, usize), (usize, usize))>,
}

fn write_matched(x: &mut Xml, matched: &[Matched], missing: &[String]) {
    x.open("MatchedStatements");
    for m in matched {
        x.open("member").elem("SourcePolicyId", &m.id).elem("SourcePolicyType", m.kind);
        if let Some(((l1, c1), (l2, c2))) = m.span {
            x.open("StartPosition").elem("Line", &l1.to_string()).elem("Column", &c1.to_string()).close("StartPosition");
            x.open("EndPosition").elem("Line", &l2.to_string()).elem("Column", &c2.to_string()).close("EndPosition");
        }
        x.close("member");
    }
    x.close("MatchedStatements").open("MissingContextValues");
    for k in missing {
        x.elem("member", k);
    }
    x.close("MissingContextValues");
}

struct Simulation<'a> {
    sources: Sources,
    identity: Vec<NamedPolicy>,
    boundary: Option<NamedPolicy>,
    resource: Option<NamedPolicy>,
    /// The simulated caller: `CallerArn`, or the simulated entity.
    principal: Principal<'a>,
    /// `ResourceOwner`: the owner of resources whose ARN names no account,
    /// and of the resource policy; the caller's account when absent.
    resource_owner: Option<String>,
}

/// What both simulations take alike: the resource policy, `ResourceOwner`,
/// `CallerArn`, and a valid `ResourceHandlingOption`.
struct Inputs<'p> {
    resource: Option<NamedPolicy>,
    resource_owner: Option<String>,
    caller: Option<(&'p str, String)>,
}

fn inputs<'p>(ctx: &Ctx<'p>, docs: &mut HashMap<String, (String, PolicyKind)>) -> Result<Inputs<'p>, ApiError> {
    let resource = resource_policy(ctx, docs)?;
    check_resource_handling(ctx)?;
    Ok(Inputs { resource, resource_owner: resource_owner(ctx)?, caller: caller_arn(ctx)? })
}

/// The account that owns `resource` in a simulation: the one its ARN names,
/// else `ResourceOwner`, else the caller's (SimulateCustomPolicy's
/// `ResourceOwner` documentation).
fn owner_of<'r>(resource: &'r str, sim: &'r Simulation<'_>) -> &'r str {
    latchkey_model::Arn::parse(resource)
        .map(|a| a.account)
        .filter(|a| !a.is_empty() && *a != "aws")
        .or(sim.resource_owner.as_deref())
        .unwrap_or(sim.principal.account)
}

/// `ResourceOwner`: an account id, or its ARN `arn:aws:iam::ACCOUNT:root`.
fn resource_owner(ctx: &Ctx<'_>) -> Result<Option<String>, ApiError> {
    let Some(v) = ctx.params.get("ResourceOwner") else { return Ok(None) };
    let mut violations = Violations::default();
    violations.length("ResourceOwner", v, 1, 2048);
    violations.finish()?;
    let account = v.strip_prefix("arn:aws:iam::").and_then(|r| r.strip_suffix(":root")).unwrap_or(v);
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(account.to_owned()))
    } else {
        Err(ApiError::invalid_input(format!("Invalid ResourceOwner: {v}. Specify an account id or arn:aws:iam::ACCOUNT-ID:root.")))
    }
}

/// AWS's values of `ResourceHandlingOption` (the EC2 scenarios). latchkey
/// has no EC2 resources to add to a scenario, so the option is checked and
/// the given `ResourceArns` are simulated as they are.
const RESOURCE_HANDLING_OPTIONS: [&str; 4] =
    ["EC2-VPC-InstanceStore", "EC2-VPC-InstanceStore-Subnet", "EC2-VPC-EBS", "EC2-VPC-EBS-Subnet"];

fn check_resource_handling(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    let Some(v) = ctx.params.get("ResourceHandlingOption") else { return Ok(()) };
    let mut violations = Violations::default();
    violations.length("ResourceHandlingOption", v, 1, 64);
    violations.finish()?;
    if RESOURCE_HANDLING_OPTIONS.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!(
            "Invalid ResourceHandlingOption: {v}. Valid options are {}.",
            RESOURCE_HANDLING_OPTIONS.join(", ")
        )))
    }
}

/// `CallerArn`: it may only name an IAM user; its account is the simulated
/// caller's account.
fn caller_arn<'p>(ctx: &Ctx<'p>) -> Result<Option<(&'p str, String)>, ApiError> {
    let Some(arn) = ctx.params.get("CallerArn") else { return Ok(None) };
    let mut violations = Violations::default();
    violations.length("CallerArn", arn, 1, 2048);
    violations.finish()?;
    match latchkey_model::Arn::parse(arn) {
        Some(a) if a.service == "iam" && a.resource.starts_with("user/") && a.account_id().is_some() => {
            Ok(Some((arn, a.account.to_owned())))
        }
        _ => Err(ApiError::invalid_input(format!(
            "Invalid CallerArn: {arn}. You can specify only the ARN of an IAM user."
        ))),
    }
}

/// Simulates for the call `proof` allowed.
fn run(ctx: &Ctx<'_>, proof: Authorized, sim: &Simulation<'_>) -> Output {
    let actions = ctx.params.list("ActionNames");
    if actions.is_empty() {
        return Err(crate::protocol::query::null_error("ActionNames"));
    }
    let mut resources = ctx.params.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    let page = Page::from_params(ctx)?;
    let mut context = Context::new();
    context_entries(ctx, &mut context);

    let identity: Vec<PolicyRef<'_>> = sim.identity.iter().map(|p| PolicyRef { id: &p.id, policy: &p.policy }).collect();
    let boundary = sim.boundary.as_ref().map(|p| PolicyRef { id: &p.id, policy: &p.policy });
    let resource = sim.resource.as_ref().map(|p| PolicyRef { id: &p.id, policy: &p.policy });
    let mut results = Vec::new();
    for action in &actions {
        for res in &resources {
            let set = PolicySet {
                identity: &identity,
                boundary,
                resource,
                resource_account: owner_of(res, sim),
                ..PolicySet::default()
            };
            let request = latchkey_policy::Request {
                principal: sim.principal,
                action,
                resource: res,
                context: &context,
            };
            let d = latchkey_policy::simulate(&set, &request);
            let decision = match d.verdict() {
                Verdict::Allow => "allowed",
                Verdict::ExplicitDeny => "explicitDeny",
                Verdict::ImplicitDeny => "implicitDeny",
            };
            let matched: Vec<Matched> = d
                .matched()
                .iter()
                .map(|s| Matched {
                    id: s.policy_id.to_owned(),
                    kind: source_type(s.policy_id),
                    span: sim.sources.span(s.policy_id, s.statement),
                })
                .collect();
            results.push(((*action).to_owned(), (*res).to_owned(), decision, matched));
        }
    }
    let missing = sim.sources.missing(&context);
    let mut x = Xml::new();
    page.write(&mut x, "EvaluationResults", &results, |x, (action, res, decision, matched)| {
        x.open("member").elem("EvalActionName", action).elem("EvalResourceName", res).elem("EvalDecision", decision);
        write_matched(x, matched, &missing);
        // One resource per result: its resource-specific result repeats it, as AWS shapes it.
        x.open("ResourceSpecificResults")
            .open("member")
            .elem("EvalResourceName", res)
            .elem("EvalResourceDecision", decision);
        write_matched(x, matched, &missing);
        x.close("member").close("ResourceSpecificResults");
        x.close("member");
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn principal_policy(ctx: &Ctx<'_>) -> Output {
    let source = ctx.params.required("PolicySourceArn")?;
    let mut v = Violations::default();
    check_arn(&mut v, "PolicySourceArn", source);
    v.finish()?;
    let proof = authz::authorize(ctx, Request { action: "iam:SimulatePrincipalPolicy", resource: source })?;
    let acct = account(ctx)?;
    let parsed = latchkey_model::Arn::parse(source).filter(|a| a.account == ctx.caller.account.to_string());
    let (kind_word, name) = parsed
        .and_then(|a| a.resource.split_once('/'))
        .map(|(k, rest)| (k, rest.rsplit('/').next().unwrap_or(rest)))
        .ok_or_else(|| ApiError::invalid_input(format!("Invalid ARN: {source}")))?;
    let kind = match kind_word {
        "user" => OwnerKind::User,
        "group" => OwnerKind::Group,
        "role" => OwnerKind::Role,
        _ => return Err(ApiError::invalid_input(format!("Invalid ARN: {source}"))),
    };
    let owner = super::find_owner(acct, kind, name)?;
    let mut docs: HashMap<String, (String, PolicyKind)> = HashMap::new();
    let mut note_owner = |id: &latchkey_model::UniqueId| {
        for e in acct.inline.get(id).into_iter().flat_map(|m| m.values()) {
            docs.insert(e.compiled.id.to_string(), (e.document.clone(), PolicyKind::Identity));
        }
        for arn in acct.attached(id) {
            if let Some(doc) = managed_document(acct, arn) {
                docs.insert(arn.clone(), (doc, PolicyKind::Identity));
            }
        }
    };
    note_owner(&owner.id);
    if kind == OwnerKind::User {
        for g in acct.groups_of(&owner.id) {
            note_owner(g);
        }
    }
    let (mut identity, boundary) = match kind {
        OwnerKind::Group => {
            let mut v = Vec::new();
            if let Some(inline) = acct.inline.get(&owner.id) {
                v.extend(inline.values().map(|e| e.compiled.clone()));
            }
            if let Some(arns) = acct.attached.get(&owner.id) {
                v.extend(arns.iter().filter_map(|a| acct.managed(a).cloned()));
            }
            (v, None)
        }
        _ => {
            let e = acct.effective(&owner.id).cloned().unwrap_or_default();
            (e.identity.clone(), e.boundary.clone())
        }
    };
    identity.extend(input_policies(ctx, "PolicyInputList", PolicyKind::Identity, &mut docs)?);
    let boundary = input_policies(ctx, "PermissionsBoundaryPolicyInputList", PolicyKind::Boundary, &mut docs)?
        .into_iter()
        .next()
        .or(boundary);
    let Inputs { resource, resource_owner, caller } = inputs(ctx, &mut docs)?;
    // Simulated as CallerArn "as if Bob had David's policies"; without it,
    // as the entity itself.
    if caller.is_none() && resource.is_some() && kind != OwnerKind::User {
        return Err(ApiError::invalid_input(
            "CallerArn is required if you include a ResourcePolicy and the PolicySourceArn is not the ARN for an IAM user.",
        ));
    }
    let own_account = ctx.caller.account.to_string();
    // The simulated request's resource policy is a document, not a stored
    // policy bound to ids, so the caller's id matters only for the entity itself.
    let principal = match &caller {
        Some((arn, account)) => Principal { arn, id: "", account, kind: PrincipalKind::User },
        None => Principal {
            arn: &owner.arn,
            id: owner.id.as_str(),
            account: &own_account,
            kind: match kind {
                OwnerKind::Role => PrincipalKind::AssumedRole { role_arn: &owner.arn },
                _ => PrincipalKind::User,
            },
        },
    };
    let sources = Sources::new(docs);
    run(ctx, proof, &Simulation { sources, identity, boundary, resource, principal, resource_owner })
}

pub(super) fn custom_policy(ctx: &Ctx<'_>) -> Output {
    if ctx.params.list("PolicyInputList").is_empty() {
        return Err(crate::protocol::query::null_error("PolicyInputList"));
    }
    let proof = authz::authorize(ctx, Request { action: "iam:SimulateCustomPolicy", resource: "*" })?;
    let mut docs = HashMap::new();
    let identity = input_policies(ctx, "PolicyInputList", PolicyKind::Identity, &mut docs)?;
    let boundary = input_policies(ctx, "PermissionsBoundaryPolicyInputList", PolicyKind::Boundary, &mut docs)?.into_iter().next();
    let Inputs { resource, resource_owner, caller } = inputs(ctx, &mut docs)?;
    // Without CallerArn (required only with a ResourcePolicy, which needs a
    // principal to match), the caller is an unnamed user of the signer's account.
    if caller.is_none() && resource.is_some() {
        return Err(ApiError::invalid_input("CallerArn is required if you include a ResourcePolicy."));
    }
    let default_arn = format!("arn:aws:iam::{}:user/simulated", ctx.caller.account);
    let default_account = ctx.caller.account.to_string();
    let (arn, account) = caller.as_ref().map_or((default_arn.as_str(), default_account.as_str()), |(a, acct)| (*a, acct.as_str()));
    let principal = Principal { arn, id: "", account, kind: PrincipalKind::User };
    let sources = Sources::new(docs);
    run(ctx, proof, &Simulation { sources, identity, boundary, resource, principal, resource_owner })
}

/// The `ResourcePolicy` parameter, compiled. A document that is not a valid
/// resource policy but is a valid role trust policy (no `Resource` element)
/// is simulated as a trust policy, so it must allow the caller itself, as
/// AssumeRole enforces.
fn resource_policy(ctx: &Ctx<'_>, docs: &mut HashMap<String, (String, PolicyKind)>) -> Result<Option<NamedPolicy>, ApiError> {
    let Some(doc) = ctx.params.get("ResourcePolicy") else { return Ok(None) };
    let (policy, kind) = match CompiledPolicy::parse(doc, PolicyKind::Resource) {
        Ok(p) => (p, PolicyKind::Resource),
        Err(e) => match CompiledPolicy::parse(doc, PolicyKind::Trust) {
            Ok(p) => (p, PolicyKind::Trust),
            Err(_) => return Err(ApiError::from(&e)),
        },
    };
    docs.insert("ResourcePolicy".to_owned(), (doc.to_owned(), kind));
    Ok(Some(NamedPolicy { id: Arc::from("ResourcePolicy"), policy: Arc::new(policy) }))
}

/// The default version's document of a managed policy, the account's or AWS's.
fn managed_document(acct: &crate::state::AccountState, arn: &str) -> Option<String> {
    acct.policy_by_arn(arn).and_then(|p| p.policy.default_document().map(str::to_owned)).or_else(|| {
        crate::state::policies::aws_managed_policy(arn).map(|m| m.document.to_owned())
    })
}
