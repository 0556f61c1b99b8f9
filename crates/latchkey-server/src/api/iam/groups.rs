//! IAM groups and their members.

use latchkey_model::{Group, IdPrefix, OwnerKind, UniqueId, format_iso8601};
use latchkey_store::Op;

use super::{Page, account, account_in, check_path, check_user_name, find_owner, no_such_owner, write_user};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::AccountState;

fn write_group(x: &mut Xml, tag: &str, g: &Group) {
    x.open(tag)
        .elem("Path", &g.path)
        .elem("GroupName", &g.name)
        .elem("GroupId", g.id.as_str())
        .elem("Arn", &g.arn())
        .elem("CreateDate", &format_iso8601(g.created))
        .close(tag);
}

fn group_param<'p>(ctx: &'p Ctx<'_>) -> Result<&'p str, ApiError> {
    let name = ctx.params.required("GroupName")?;
    let mut v = Violations::default();
    super::check_owner_name(&mut v, OwnerKind::Group, "GroupName", name);
    v.finish()?;
    Ok(name)
}

fn group_arn(ctx: &Ctx<'_>, acct: &AccountState, name: &str) -> String {
    acct.group(name).map_or_else(|| latchkey_model::Arn::iam(&ctx.caller.account, "group", "/", name), Group::arn)
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Output {
    let name = group_param(ctx)?;
    let path = ctx.params.get("Path").unwrap_or("/");
    let mut v = Violations::default();
    check_path(&mut v, "Path", path);
    v.finish()?;
    let arn = latchkey_model::Arn::iam(&ctx.caller.account, "group", path, name);
    let proof = authz::authorize(ctx, Request { action: "iam:CreateGroup", resource: &arn })?;
    let group = Group {
        id: UniqueId::generate(IdPrefix::Group, &ctx.caller.account),
        account: ctx.caller.account,
        name: name.to_owned(),
        path: path.to_owned(),
        created: ctx.now,
    };
    let group = ctx
        .app
        .state
        .write(&proof, |snap| {
            if account_in(ctx, snap)?.group(name).is_some() {
                return Err(ApiError::entity_already_exists(format!("Group with name {name} already exists.")));
            }
            Ok((vec![Op::InsertGroup(group.clone())], group))
        })
        .await?;
    let mut x = Xml::new();
    write_group(&mut x, "Group", &group);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get(ctx: &Ctx<'_>) -> Output {
    let page = Page::from_params(ctx)?;
    let (owner, proof) = super::authorize_owner(ctx, OwnerKind::Group, "iam:GetGroup", |_| {})?;
    let acct = account(ctx)?;
    let group = acct.group_by_id(&owner.id).ok_or_else(|| no_such_owner(OwnerKind::Group, &owner.name))?;
    let members: Vec<_> =
        acct.members.get(&group.id).map(|m| m.iter().filter_map(|u| acct.user_by_id(u)).collect()).unwrap_or_default();
    let mut x = Xml::new();
    write_group(&mut x, "Group", group);
    page.write(&mut x, "Users", &members, |x, u| write_user(x, "member", u, false));
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let prefix = ctx.params.get("PathPrefix").unwrap_or("/");
    let page = Page::from_params(ctx)?;
    let resource = format!("arn:aws:iam::{}:group/", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:ListGroups", resource: &resource })?;
    let groups: Vec<&Group> = account(ctx)?.groups.values().map(AsRef::as_ref).filter(|g: &&Group| g.path.starts_with(prefix)).collect();
    let mut x = Xml::new();
    page.write(&mut x, "Groups", &groups, |x, g| write_group(x, "member", g));
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Output {
    let (owner, proof) = super::authorize_owner(ctx, OwnerKind::Group, "iam:DeleteGroup", |_| {})?;
    let name = owner.name.as_str();
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let g = acct.group(name).ok_or_else(|| no_such_owner(OwnerKind::Group, name))?;
            if acct.members.get(&g.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must remove users from group first."));
            }
            if acct.inline.get(&g.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must delete policies first."));
            }
            if acct.attached.get(&g.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must detach all policies first."));
            }
            Ok((vec![Op::DeleteGroup(g.id.clone())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

fn member_params<'p>(ctx: &'p Ctx<'_>) -> Result<(&'p str, &'p str), ApiError> {
    let group = group_param(ctx)?;
    let user = ctx.params.required("UserName")?;
    let mut v = Violations::default();
    check_user_name(&mut v, "UserName", user);
    v.finish()?;
    Ok((group, user))
}

pub(super) async fn add_user(ctx: &Ctx<'_>) -> Output {
    let (group, user) = member_params(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:AddUserToGroup", resource: &group_arn(ctx, account(ctx)?, group) })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let g = acct.group(group).ok_or_else(|| no_such_owner(OwnerKind::Group, group))?;
            let u = find_owner(acct, OwnerKind::User, user)?;
            if acct.groups_of.get(&u.id).is_some_and(|gs| gs.len() >= 10 && !gs.contains(&g.id)) {
                return Err(ApiError::limit_exceeded("Cannot exceed quota for GroupsPerUser: 10"));
            }
            Ok((vec![Op::AddToGroup { group: g.id.clone(), user: u.id, at: ctx.now }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn remove_user(ctx: &Ctx<'_>) -> Output {
    let (group, user) = member_params(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:RemoveUserFromGroup", resource: &group_arn(ctx, account(ctx)?, group) })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let g = acct.group(group).ok_or_else(|| no_such_owner(OwnerKind::Group, group))?;
            let u = find_owner(acct, OwnerKind::User, user)?;
            if !acct.members.get(&g.id).is_some_and(|m| m.contains(&u.id)) {
                return Err(ApiError::no_such_entity(format!("The user with name {user} is not in group {group}.")));
            }
            Ok((vec![Op::RemoveFromGroup { group: g.id.clone(), user: u.id }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn list_for_user(ctx: &Ctx<'_>) -> Output {
    let page = Page::from_params(ctx)?;
    let (user, proof) = super::authorize_owner(ctx, OwnerKind::User, "iam:ListGroupsForUser", |_| {})?;
    let acct = account(ctx)?;
    let groups: Vec<&Group> =
        acct.groups_of.get(&user.id).map(|gs| gs.iter().filter_map(|g| acct.group_by_id(g)).collect()).unwrap_or_default();
    let mut x = Xml::new();
    page.write(&mut x, "Groups", &groups, |x, g| write_group(x, "member", g));
    Ok(Answer::new(proof, Some(x.into_string())))
}
