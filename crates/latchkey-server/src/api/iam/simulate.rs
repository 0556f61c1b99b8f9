//! The IAM policy simulator: SimulatePrincipalPolicy and SimulateCustomPolicy
//! answer with the same engine and the same policies that enforce requests,
//! so a simulation agrees with what latchkey would do.

use std::sync::Arc;

use latchkey_model::OwnerKind;
use latchkey_policy::{CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Verdict};

use super::{Page, account, check_arn, policy_error};
use crate::ApiError;
use crate::api::{Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::policies::NamedPolicy;

/// Policies given in the request, compiled, named as AWS names them.
fn input_policies(ctx: &Ctx<'_>, list: &str, kind: PolicyKind) -> Result<Vec<NamedPolicy>, ApiError> {
    ctx.params
        .list(list)
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let compiled = CompiledPolicy::parse(doc, kind).map_err(|e| policy_error(&e))?;
            Ok(NamedPolicy { id: Arc::from(format!("{list}.{}", i + 1).as_str()), policy: Arc::new(compiled) })
        })
        .collect()
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

struct Simulation<'a> {
    identity: Vec<NamedPolicy>,
    boundary: Option<NamedPolicy>,
    resource: Option<NamedPolicy>,
    principal_arn: &'a str,
    kind: PrincipalKind<'a>,
}

fn run(ctx: &Ctx<'_>, sim: &Simulation<'_>) -> Output {
    let actions = ctx.params.list("ActionNames");
    if actions.is_empty() {
        return Err(crate::protocol::query::null_error("ActionNames"));
    }
    let mut resources = ctx.params.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    let page = Page::from_params(ctx)?;
    let account = ctx.caller.account.to_string();
    let mut context = Context::new();
    context_entries(ctx, &mut context);

    let identity: Vec<PolicyRef<'_>> = sim.identity.iter().map(|p| PolicyRef { id: &p.id, policy: &p.policy }).collect();
    let boundary = sim.boundary.as_ref().map(|p| PolicyRef { id: &p.id, policy: &p.policy });
    let resource = sim.resource.as_ref().map(|p| PolicyRef { id: &p.id, policy: &p.policy });
    let set = PolicySet { identity: &identity, boundary, resource, ..PolicySet::default() };
    let mut results = Vec::new();
    for action in &actions {
        for res in &resources {
            let request = latchkey_policy::Request {
                principal: Principal { arn: sim.principal_arn, account: &account, kind: sim.kind },
                action,
                resource: res,
                context: &context,
            };
            let d = latchkey_policy::explain(&set, &request);
            let decision = match d.verdict() {
                Verdict::Allow => "allowed",
                Verdict::ExplicitDeny => "explicitDeny",
                Verdict::ImplicitDeny => "implicitDeny",
            };
            let matched: Vec<(String, &'static str)> =
                d.matched().iter().map(|s| (s.policy_id.to_owned(), source_type(s.policy_id))).collect();
            results.push(((*action).to_owned(), (*res).to_owned(), decision, matched));
        }
    }
    let mut x = Xml::new();
    page.write(&mut x, "EvaluationResults", &results, |x, (action, res, decision, matched)| {
        x.open("member").elem("EvalActionName", action).elem("EvalResourceName", res).elem("EvalDecision", decision);
        x.open("MatchedStatements");
        for (id, kind) in matched {
            x.open("member").elem("SourcePolicyId", id).elem("SourcePolicyType", kind).close("member");
        }
        x.close("MatchedStatements").open("MissingContextValues").close("MissingContextValues");
        x.close("member");
    });
    Ok(Some(x.into_string()))
}

pub(super) fn principal_policy(ctx: &Ctx<'_>) -> Output {
    let source = ctx.params.required("PolicySourceArn")?;
    let mut v = Violations::default();
    check_arn(&mut v, "PolicySourceArn", source);
    v.finish()?;
    authz::authorize(ctx, Request { action: "iam:SimulatePrincipalPolicy", resource: source })?;
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
    identity.extend(input_policies(ctx, "PolicyInputList", PolicyKind::Identity)?);
    let boundary = input_policies(ctx, "PermissionsBoundaryPolicyInputList", PolicyKind::Boundary)?.into_iter().next().or(boundary);
    let resource = match ctx.params.get("ResourcePolicy") {
        Some(doc) => Some(NamedPolicy {
            id: Arc::from("ResourcePolicy"),
            policy: Arc::new(CompiledPolicy::parse(doc, PolicyKind::Resource).map_err(|e| policy_error(&e))?),
        }),
        None => None,
    };
    let principal_kind = match kind {
        OwnerKind::Role => PrincipalKind::AssumedRole { role_arn: &owner.arn },
        _ => PrincipalKind::User,
    };
    run(ctx, &Simulation { identity, boundary, resource, principal_arn: &owner.arn, kind: principal_kind })
}

pub(super) fn custom_policy(ctx: &Ctx<'_>) -> Output {
    if ctx.params.list("PolicyInputList").is_empty() {
        return Err(crate::protocol::query::null_error("PolicyInputList"));
    }
    authz::authorize(ctx, Request { action: "iam:SimulateCustomPolicy", resource: "*" })?;
    let identity = input_policies(ctx, "PolicyInputList", PolicyKind::Identity)?;
    let boundary = input_policies(ctx, "PermissionsBoundaryPolicyInputList", PolicyKind::Boundary)?.into_iter().next();
    let resource = match ctx.params.get("ResourcePolicy") {
        Some(doc) => Some(NamedPolicy {
            id: Arc::from("ResourcePolicy"),
            policy: Arc::new(CompiledPolicy::parse(doc, PolicyKind::Resource).map_err(|e| policy_error(&e))?),
        }),
        None => None,
    };
    let caller = ctx.params.get("CallerArn").map_or_else(|| format!("arn:aws:iam::{}:user/simulated", ctx.caller.account), str::to_owned);
    run(ctx, &Simulation { identity, boundary, resource, principal_arn: &caller, kind: PrincipalKind::User })
}
