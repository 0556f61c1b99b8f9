//! IAM roles.

use latchkey_model::{IdPrefix, OwnerKind, PrincipalBinding, Role, UniqueId, format_iso8601};
use latchkey_policy::{Limit, PolicyKind};
use latchkey_store::Op;

use super::owned::{boundary_param, check_boundary_exists};
use super::users::parse_tags;
use super::{
    Page, account, account_in, check_description, check_document, check_path, check_user_name, no_such_owner,
    url_encode, write_boundary, write_tags,
};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::{Snapshot, principals};

/// A role's session-duration bounds, in seconds.
const MIN_SESSION: i64 = 3600;
const MAX_SESSION: i64 = 43200;

fn write_role(x: &mut Xml, snap: &Snapshot, tag: &str, r: &Role, full: bool) {
    let trust = match &r.trust_principals {
        Some(bindings) => principals::display(snap, &r.trust_policy, bindings),
        None => std::borrow::Cow::Borrowed(r.trust_policy.as_str()),
    };
    x.open(tag)
        .elem("Path", &r.path)
        .elem("RoleName", &r.name)
        .elem("RoleId", r.id.as_str())
        .elem("Arn", &r.arn())
        .elem("CreateDate", &format_iso8601(r.created))
        .elem("AssumeRolePolicyDocument", &url_encode(&trust))
        .opt("Description", r.description.as_deref())
        .elem("MaxSessionDuration", &r.max_session_duration.to_string());
    if full {
        write_boundary(x, r.permissions_boundary.as_deref());
        if !r.tags.is_empty() {
            write_tags(x, "Tags", &r.tags);
        }
        x.open("RoleLastUsed");
        if let Some((at, region)) = &r.last_used {
            x.elem("LastUsedDate", &format_iso8601(*at)).elem("Region", region);
        }
        x.close("RoleLastUsed");
    }
    x.close(tag);
}

fn role_name_param<'p>(ctx: &'p Ctx<'_>) -> Result<&'p str, ApiError> {
    let name = ctx.params.required("RoleName")?;
    let mut v = Violations::default();
    check_user_name(&mut v, "RoleName", name);
    v.finish()?;
    Ok(name)
}

/// A trust policy's users and roles bound to the entities that hold their
/// names in `snap`; one that names nobody is refused as AWS refuses it.
fn bind_trust(snap: &Snapshot, document: &str) -> Result<Vec<PrincipalBinding>, ApiError> {
    // The document was validated before the write; a parse failure here
    // cannot happen, and binds nothing.
    let Ok(policy) = latchkey_policy::parse(document, PolicyKind::Trust) else { return Ok(Vec::new()) };
    Ok(principals::bind(snap, &policy)?)
}

fn duration_param(ctx: &Ctx<'_>) -> Result<Option<i64>, ApiError> {
    let d = ctx.params.int("MaxSessionDuration")?;
    if let Some(d) = d {
        let mut v = Violations::default();
        v.range("MaxSessionDuration", d, MIN_SESSION, MAX_SESSION);
        v.finish()?;
    }
    Ok(d)
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Output {
    let name = role_name_param(ctx)?;
    let path = ctx.params.get("Path").unwrap_or("/");
    let trust = ctx.params.required("AssumeRolePolicyDocument")?;
    let description = ctx.params.get("Description");
    let mut v = Violations::default();
    check_path(&mut v, "Path", path);
    check_description(&mut v, description);
    v.finish()?;
    let max_session = duration_param(ctx)?.unwrap_or(MIN_SESSION);
    let tags = parse_tags(ctx)?;
    let boundary = boundary_param(ctx)?;
    let arn = latchkey_model::Arn::iam(&ctx.caller.account, "role", path, name);
    let proof = authz::authorize_with(ctx, Request { action: "iam:CreateRole", resource: &arn }, super::create_context(&tags, boundary.as_deref()))?;
    check_document(trust, PolicyKind::Trust, Limit::TRUST_POLICY, 0)?;
    let role = Role {
        id: UniqueId::generate(IdPrefix::Role, &ctx.caller.account),
        account: ctx.caller.account,
        name: name.to_owned(),
        path: path.to_owned(),
        trust_policy: trust.to_owned(),
        trust_principals: None,
        description: description.map(str::to_owned),
        max_session_duration: max_session,
        created: ctx.now,
        tags,
        permissions_boundary: boundary,
        last_used: None,
    };
    let role = ctx
        .app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            check_boundary_exists(acct, role.permissions_boundary.as_deref())?;
            if acct.role(name).is_some() {
                return Err(ApiError::entity_already_exists(format!("Role with name {name} already exists.")));
            }
            let role = Role { trust_principals: Some(bind_trust(snap, trust)?.into()), ..role.clone() };
            Ok((vec![Op::InsertRole(role.clone())], role))
        })
        .await?;
    let mut x = Xml::new();
    write_role(&mut x, &ctx.app.state.snapshot(), "Role", &role, false);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get(ctx: &Ctx<'_>) -> Output {
    let (name, proof) = authorized_role(ctx, "iam:GetRole")?;
    let entry = account(ctx)?.role(&name).ok_or_else(|| no_such_owner(OwnerKind::Role, &name))?;
    let mut role = entry.role.clone();
    if let Some(used) = ctx.app.pending_role_use(&role.id) {
        role.last_used = Some(used);
    }
    let mut x = Xml::new();
    write_role(&mut x, &ctx.snap, "Role", &role, true);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let prefix = ctx.params.get("PathPrefix").unwrap_or("/");
    let page = Page::from_params(ctx)?;
    let resource = format!("arn:aws:iam::{}:role/", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:ListRoles", resource: &resource })?;
    let roles: Vec<&Role> = account(ctx)?.roles.values().map(|r| &r.role).filter(|r| r.path.starts_with(prefix)).collect();
    let mut x = Xml::new();
    page.write(&mut x, "Roles", &roles, |x, r| write_role(x, &ctx.snap, "member", r, false));
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// Authorises `action` on the role named in the request (before saying
/// whether it exists) and returns its name with the proof.
fn authorized_role(ctx: &Ctx<'_>, action: &str) -> Result<(String, crate::authz::Authorized), ApiError> {
    let (owner, proof) = super::authorize_owner(ctx, OwnerKind::Role, action, |_| {})?;
    Ok((owner.name, proof))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Output {
    let description = ctx.params.get("Description");
    let mut v = Violations::default();
    check_description(&mut v, description);
    v.finish()?;
    let duration = duration_param(ctx)?;
    let (name, proof) = authorized_role(ctx, "iam:UpdateRole")?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let r = account_in(ctx, snap)?.role(&name).ok_or_else(|| no_such_owner(OwnerKind::Role, &name))?;
            let op = Op::UpdateRole {
                id: r.role.id.clone(),
                description: description.map(str::to_owned).or_else(|| r.role.description.clone()),
                max_session_duration: duration.unwrap_or(r.role.max_session_duration),
            };
            Ok((vec![op], ()))
        })
        .await?;
    Ok(Answer::new(proof, Some(String::new())))
}

pub(super) async fn update_trust(ctx: &Ctx<'_>) -> Output {
    let doc = ctx.params.required("PolicyDocument")?;
    let (name, proof) = authorized_role(ctx, "iam:UpdateAssumeRolePolicy")?;
    check_document(doc, PolicyKind::Trust, Limit::TRUST_POLICY, 0)?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let r = account_in(ctx, snap)?.role(&name).ok_or_else(|| no_such_owner(OwnerKind::Role, &name))?;
            let op = Op::SetTrustPolicy { id: r.role.id.clone(), document: doc.to_owned(), principals: bind_trust(snap, doc)? };
            Ok((vec![op], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Output {
    let (name, proof) = authorized_role(ctx, "iam:DeleteRole")?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let r = acct.role(&name).ok_or_else(|| no_such_owner(OwnerKind::Role, &name))?;
            if acct.inline.get(&r.role.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must delete policies first."));
            }
            if acct.attached.get(&r.role.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must detach all policies first."));
            }
            Ok((vec![Op::DeleteRole(r.role.id.clone())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}
