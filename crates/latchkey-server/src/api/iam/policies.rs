//! Managed policies and their versions.

use latchkey_model::{IdPrefix, ManagedPolicy, OwnerKind, PolicyVersion, UniqueId, format_iso8601};
use latchkey_policy::{Limit, PolicyKind};
use latchkey_store::Op;

use super::users::parse_tags;
use super::{Page, account, account_in, check_arn, check_description, check_document, check_path, url_encode, write_tags};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::{Violations, is_name_char};
use crate::protocol::xml::Xml;
use crate::state::policies::{AWS_MANAGED, AwsManaged, aws_managed_policy};
use crate::state::{AccountState, Snapshot};

/// AWS's quota of versions per managed policy.
const MAX_VERSIONS: usize = 5;

/// A policy as listings describe it, customer-managed or AWS-managed.
struct Described<'a> {
    name: &'a str,
    id: String,
    arn: String,
    path: &'a str,
    default_version: &'a str,
    description: Option<&'a str>,
    created: i64,
    updated: i64,
    attachments: usize,
    boundary_uses: usize,
    tags: &'a [latchkey_model::Tag],
}

fn usage(acct: &AccountState, arn: &str) -> (usize, usize) {
    let attachments = acct.attached_to.get(arn).map_or(0, |l| l.len());
    let boundaries = acct.users.values().filter(|u| u.permissions_boundary.as_deref() == Some(arn)).count()
        + acct.roles.values().filter(|r| r.role.permissions_boundary.as_deref() == Some(arn)).count();
    (attachments, boundaries)
}

fn describe_customer<'a>(acct: &AccountState, p: &'a ManagedPolicy) -> Described<'a> {
    let arn = p.arn();
    let (attachments, boundary_uses) = usage(acct, &arn);
    Described {
        name: &p.name,
        id: p.id.to_string(),
        arn,
        path: &p.path,
        default_version: &p.default_version,
        description: p.description.as_deref(),
        created: p.created,
        updated: p.updated,
        attachments,
        boundary_uses,
        tags: &p.tags,
    }
}

/// AWS-managed policies exist before any account; their dates are fixed.
fn describe_aws(acct: &AccountState, m: &'static AwsManaged) -> Described<'static> {
    let arn = m.arn();
    let (attachments, boundary_uses) = usage(acct, &arn);
    Described {
        name: m.name,
        id: format!("ANPA{}", m.name.to_uppercase().chars().filter(char::is_ascii_alphanumeric).take(17).collect::<String>()),
        arn,
        path: m.path,
        default_version: m.version,
        description: Some(m.description),
        created: m.created,
        updated: m.updated,
        attachments,
        boundary_uses,
        tags: &[],
    }
}

fn write_policy(x: &mut Xml, tag: &str, d: &Described<'_>, with_description: bool) {
    x.open(tag)
        .elem("PolicyName", d.name)
        .elem("DefaultVersionId", d.default_version)
        .elem("PolicyId", &d.id)
        .elem("Path", d.path)
        .elem("Arn", &d.arn)
        .elem("AttachmentCount", &d.attachments.to_string())
        .elem("PermissionsBoundaryUsageCount", &d.boundary_uses.to_string())
        .bool("IsAttachable", true);
    if with_description {
        x.opt("Description", d.description);
    }
    x.elem("CreateDate", &format_iso8601(d.created)).elem("UpdateDate", &format_iso8601(d.updated));
    if !d.tags.is_empty() {
        write_tags(x, "Tags", d.tags);
    }
    x.close(tag);
}

fn no_such_policy(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

fn arn_param<'p>(ctx: &'p Ctx<'_>) -> Result<&'p str, ApiError> {
    let arn = ctx.params.required("PolicyArn")?;
    let mut v = Violations::default();
    check_arn(&mut v, "PolicyArn", arn);
    v.finish()?;
    Ok(arn)
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("PolicyName")?;
    let path = ctx.params.get("Path").unwrap_or("/");
    let doc = ctx.params.required("PolicyDocument")?;
    let description = ctx.params.get("Description");
    let mut v = Violations::default();
    v.length("PolicyName", name, 1, 128);
    v.pattern("PolicyName", name, "[\\w+=,.@-]+", is_name_char);
    check_path(&mut v, "Path", path);
    check_description(&mut v, description);
    v.finish()?;
    let tags = parse_tags(ctx)?;
    let arn = latchkey_model::Arn::iam(&ctx.caller.account, "policy", path, name);
    let proof = authz::authorize(ctx, Request { action: "iam:CreatePolicy", resource: &arn })?;
    check_document(doc, PolicyKind::Identity, Limit::ManagedPolicy, 0)?;
    let policy = ManagedPolicy {
        id: UniqueId::generate(IdPrefix::Policy, &ctx.caller.account),
        account: ctx.caller.account,
        name: name.to_owned(),
        path: path.to_owned(),
        description: description.map(str::to_owned),
        default_version: "v1".to_owned(),
        next_version: 2,
        created: ctx.now,
        updated: ctx.now,
        versions: vec![PolicyVersion { version_id: "v1".to_owned(), document: doc.to_owned(), created: ctx.now }],
        tags,
    };
    ctx.app
        .state
        .write(&proof, |snap| {
            if account_in(ctx, snap)?.policies.contains_key(&name.to_lowercase()) {
                return Err(ApiError::entity_already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            Ok((vec![Op::InsertPolicy(policy.clone())], ()))
        })
        .await?;
    let mut x = Xml::new();
    let snap = ctx.app.state.snapshot();
    let acct = account_in(ctx, &snap)?;
    write_policy(&mut x, "Policy", &describe_customer(acct, &policy), false);
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// Finds a managed policy by ARN: the caller's own, or one of AWS's.
fn find<'s>(acct: &'s AccountState, arn: &str) -> Option<Described<'s>> {
    if let Some(p) = acct.policy_by_arn(arn) {
        return Some(describe_customer(acct, &p.policy));
    }
    aws_managed_policy(arn).map(|m| describe_aws(acct, m))
}


pub(super) fn get(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:GetPolicy", resource: arn })?;
    let acct = account(ctx)?;
    let d = find(acct, arn).ok_or_else(|| no_such_policy(arn))?;
    let mut x = Xml::new();
    write_policy(&mut x, "Policy", &d, true);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let scope = ctx.params.get("Scope").unwrap_or("All");
    let only_attached = ctx.params.get("OnlyAttached").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let prefix = ctx.params.get("PathPrefix").unwrap_or("/");
    if !matches!(scope, "All" | "AWS" | "Local") {
        let mut v = Violations::default();
        v.add("Scope", Some(scope), "Member must satisfy enum value set: [All, AWS, Local]");
        v.finish()?;
    }
    let page = Page::from_params(ctx)?;
    let resource = format!("arn:aws:iam::{}:policy/", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:ListPolicies", resource: &resource })?;
    let acct = account(ctx)?;
    let mut all: Vec<Described<'_>> = Vec::new();
    if scope != "Local" {
        all.extend(AWS_MANAGED.iter().map(|m| describe_aws(acct, m)));
    }
    if scope != "AWS" {
        all.extend(acct.policies.values().map(|p| describe_customer(acct, &p.policy)));
    }
    all.retain(|d| d.path.starts_with(prefix) && (!only_attached || d.attachments > 0));
    let mut x = Xml::new();
    page.write(&mut x, "Policies", &all, |x, d| write_policy(x, "member", d, false));
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// The caller's own managed policy named by `PolicyArn`, for changes; AWS's
/// policies cannot be changed.
fn own_policy<'s>(ctx: &Ctx<'_>, snap: &'s Snapshot, arn: &str) -> Result<&'s ManagedPolicy, ApiError> {
    let acct = account_in(ctx, snap)?;
    match acct.policy_by_arn(arn) {
        Some(p) => Ok(&p.policy),
        None if arn.starts_with("arn:aws:iam::aws:") => {
            Err(ApiError::access_denied(format!("Policy {arn} is an AWS managed policy and cannot be changed.")))
        }
        None => Err(no_such_policy(arn)),
    }
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:DeletePolicy", resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let p = own_policy(ctx, snap, arn)?;
            let acct = account_in(ctx, snap)?;
            if acct.attached_to.get(arn).is_some_and(|v| !v.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete a policy attached to entities."));
            }
            if usage(acct, arn).1 > 0 {
                return Err(ApiError::delete_conflict("Cannot delete a policy used as a permissions boundary."));
            }
            if p.versions.len() > 1 {
                return Err(ApiError::delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                ));
            }
            Ok((vec![Op::DeletePolicy(p.id.clone())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

fn write_version(x: &mut Xml, tag: &str, v: &PolicyVersion, default: &str, with_document: bool) {
    x.open(tag);
    if with_document {
        x.elem("Document", &url_encode(&v.document));
    }
    x.elem("VersionId", &v.version_id)
        .bool("IsDefaultVersion", v.version_id == default)
        .elem("CreateDate", &format_iso8601(v.created))
        .close(tag);
}

pub(super) async fn create_version(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let doc = ctx.params.required("PolicyDocument")?;
    let set_default = ctx.params.get("SetAsDefault").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let proof = authz::authorize(ctx, Request { action: "iam:CreatePolicyVersion", resource: arn })?;
    check_document(doc, PolicyKind::Identity, Limit::ManagedPolicy, 0)?;
    let (version, default) = ctx
        .app
        .state
        .write(&proof, |snap| {
            let p = own_policy(ctx, snap, arn)?;
            if p.versions.len() >= MAX_VERSIONS {
                return Err(ApiError::limit_exceeded(format!(
                    "A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."
                )));
            }
            let version = PolicyVersion { version_id: format!("v{}", p.next_version), document: doc.to_owned(), created: ctx.now };
            let mut ops =
                vec![Op::InsertPolicyVersion { policy: p.id.clone(), version: version.clone(), next_version: p.next_version + 1 }];
            let default = if set_default {
                ops.push(Op::SetDefaultVersion { policy: p.id.clone(), version_id: version.version_id.clone(), at: ctx.now });
                version.version_id.clone()
            } else {
                p.default_version.clone()
            };
            Ok((ops, (version, default)))
        })
        .await?;
    let mut x = Xml::new();
    write_version(&mut x, "PolicyVersion", &version, &default, false);
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// The one version latchkey has of an AWS-managed policy.
fn aws_managed_version(arn: &str) -> Result<PolicyVersion, ApiError> {
    let m = aws_managed_policy(arn).ok_or_else(|| no_such_policy(arn))?;
    Ok(PolicyVersion { version_id: m.version.to_owned(), document: m.document.to_owned(), created: m.updated })
}

fn version_param<'p>(ctx: &'p Ctx<'_>) -> Result<&'p str, ApiError> {
    let v = ctx.params.required("VersionId")?;
    let ok = v.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        let mut vi = Violations::default();
        vi.add("VersionId", Some(v), "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?");
        vi.finish()?;
    }
    Ok(v)
}

fn no_such_version(arn: &str, v: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} version {v} does not exist or is not attachable."))
}

pub(super) fn get_version(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let vid = version_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:GetPolicyVersion", resource: arn })?;
    let acct = account(ctx)?;
    let mut x = Xml::new();
    if let Some(p) = acct.policy_by_arn(arn) {
        let v = p.policy.versions.iter().find(|v| v.version_id == vid).ok_or_else(|| no_such_version(arn, vid))?;
        write_version(&mut x, "PolicyVersion", v, &p.policy.default_version, true);
    } else {
        let v = aws_managed_version(arn)?;
        if vid != v.version_id {
            return Err(no_such_version(arn, vid));
        }
        let default = v.version_id.clone();
        write_version(&mut x, "PolicyVersion", &v, &default, true);
    }
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list_versions(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let page = Page::from_params(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:ListPolicyVersions", resource: arn })?;
    let acct = account(ctx)?;
    let (versions, default) = match acct.policy_by_arn(arn) {
        Some(p) => (p.policy.versions.iter().rev().cloned().collect::<Vec<_>>(), p.policy.default_version.clone()),
        None => {
            let v = aws_managed_version(arn)?;
            let default = v.version_id.clone();
            (vec![v], default)
        }
    };
    let mut x = Xml::new();
    page.write(&mut x, "Versions", &versions, |x, v| write_version(x, "member", v, &default, false));
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) async fn set_default(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let vid = version_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:SetDefaultPolicyVersion", resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let p = own_policy(ctx, snap, arn)?;
            if !p.versions.iter().any(|v| v.version_id == vid) {
                return Err(no_such_version(arn, vid));
            }
            Ok((vec![Op::SetDefaultVersion { policy: p.id.clone(), version_id: vid.to_owned(), at: ctx.now }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn delete_version(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let vid = version_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:DeletePolicyVersion", resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let p = own_policy(ctx, snap, arn)?;
            if !p.versions.iter().any(|v| v.version_id == vid) {
                return Err(no_such_version(arn, vid));
            }
            if p.default_version == vid {
                return Err(ApiError::delete_conflict("Cannot delete the default version of the policy."));
            }
            Ok((vec![Op::DeletePolicyVersion(p.id.clone(), vid.to_owned())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn list_entities(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx)?;
    let filter = ctx.params.get("EntityFilter");
    let page = Page::from_params(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:ListEntitiesForPolicy", resource: arn })?;
    let acct = account(ctx)?;
    if find(acct, arn).is_none() {
        return Err(no_such_policy(arn));
    }
    let attached: Vec<&(OwnerKind, UniqueId)> = acct.attached_to.get(arn).into_iter().flatten().collect();
    let of = |k: OwnerKind| -> Vec<&latchkey_model::UniqueId> {
        let wanted = match filter {
            None => true,
            Some(f) => f.eq_ignore_ascii_case(k.as_str()),
        };
        attached.iter().filter(|(kind, _)| *kind == k && wanted).map(|(_, id)| id).collect()
    };
    let mut x = Xml::new();
    x.open("PolicyGroups");
    for id in of(OwnerKind::Group) {
        if let Some(g) = acct.group_by_id(id) {
            x.open("member").elem("GroupName", &g.name).elem("GroupId", g.id.as_str()).close("member");
        }
    }
    x.close("PolicyGroups").open("PolicyUsers");
    for id in of(OwnerKind::User) {
        if let Some(u) = acct.user_by_id(id) {
            x.open("member").elem("UserName", &u.name).elem("UserId", u.id.as_str()).close("member");
        }
    }
    x.close("PolicyUsers").open("PolicyRoles");
    for id in of(OwnerKind::Role) {
        if let Some(r) = acct.role_names.get(id).and_then(|n| acct.roles.get(n)) {
            x.open("member").elem("RoleName", &r.role.name).elem("RoleId", r.role.id.as_str()).close("member");
        }
    }
    x.close("PolicyRoles");
    page.finish(&mut x, 0);
    Ok(Answer::new(proof, Some(x.into_string())))
}
