use latchkey_model::{IdPrefix, Tag, UniqueId, User, format_iso8601};
use latchkey_store::Op;

use super::owned::{boundary_param, check_boundary_exists};
use super::{Page, account, account_in, check_path, check_user_name, no_such_user, user_arn, write_user};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authn::Principal;
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;

/// Tags.member.N: at most 50, keys 1–128 and values 0–256 of AWS's tag characters, keys unique.
pub(super) fn parse_tags(ctx: &Ctx<'_>) -> Result<Vec<Tag>, ApiError> {
    let raw = ctx.params.struct_list("Tags");
    let mut v = Violations::default();
    let tag_char = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    let mut tags = Vec::with_capacity(raw.len());
    for (i, fields) in raw.iter().enumerate() {
        let n = i + 1;
        let key = fields.get("Key").copied();
        let value = fields.get("Value").copied();
        match key {
            None => v.add(&format!("tags.{n}.member.key"), None, "Member must not be null"),
            Some(k) => {
                v.length(&format!("tags.{n}.member.key"), k, 1, 128);
                v.pattern(&format!("tags.{n}.member.key"), k, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+", tag_char);
            }
        }
        match value {
            None => v.add(&format!("tags.{n}.member.value"), None, "Member must not be null"),
            Some(val) => {
                v.length(&format!("tags.{n}.member.value"), val, 0, 256);
                v.pattern(&format!("tags.{n}.member.value"), val, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*", tag_char);
            }
        }
        tags.push(Tag { key: key.unwrap_or_default().to_owned(), value: value.unwrap_or_default().to_owned() });
    }
    if tags.len() > 50 {
        v.add("tags", None, "Member must have length less than or equal to 50");
    }
    v.finish()?;
    let mut seen = std::collections::HashSet::new();
    for t in &tags {
        if !seen.insert(t.key.to_lowercase()) {
            return Err(ApiError::invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive."));
        }
    }
    Ok(tags)
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("UserName")?;
    let path = ctx.params.get("Path").unwrap_or("/");
    let mut v = Violations::default();
    check_user_name(&mut v, "UserName", name);
    check_path(&mut v, "Path", path);
    v.finish()?;
    let tags = parse_tags(ctx)?;
    let boundary = boundary_param(ctx)?;
    let proof = authz::authorize_with(ctx, Request { action: "iam:CreateUser", resource: &user_arn(ctx, path, name) }, super::create_context(&tags, boundary.as_deref()))?;

    let account_id = ctx.caller.account;
    let user = User {
        id: UniqueId::generate(IdPrefix::User, &account_id),
        account: account_id,
        name: name.to_owned(),
        path: path.to_owned(),
        created: ctx.now,
        tags,
        permissions_boundary: boundary,
    };
    let user = ctx
        .app
        .state
        .write(&proof, |snap| {
            let acct = snap.account(&account_id).ok_or_else(|| ApiError::internal("account missing"))?;
            check_boundary_exists(acct, user.permissions_boundary.as_deref())?;
            if acct.user(name).is_some() {
                return Err(ApiError::entity_already_exists(format!("User with name {name} already exists.")));
            }
            Ok((vec![Op::InsertUser(user.clone())], user))
        })
        .await?;
    let mut x = Xml::new();
    write_user(&mut x, "User", &user, true);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get(ctx: &Ctx<'_>) -> Output {
    let acct = account(ctx)?;
    let mut x = Xml::new();
    let proof = match (ctx.params.get("UserName"), &ctx.caller.principal) {
        (Some(name), _) => {
            let mut v = Violations::default();
            check_user_name(&mut v, "UserName", name);
            v.finish()?;
            let user = acct.user(name);
            let arn = user.map_or_else(|| user_arn(ctx, "/", name), User::arn);
            let proof = authz::authorize(ctx, Request { action: "iam:GetUser", resource: &arn })?;
            write_user(&mut x, "User", user.ok_or_else(|| no_such_user(name))?, true);
            proof
        }
        (None, Principal::User { arn, name, .. }) => {
            let proof = authz::authorize(ctx, Request { action: "iam:GetUser", resource: arn })?;
            write_user(&mut x, "User", acct.user(name).ok_or_else(|| no_such_user(name))?, true);
            proof
        }
        (None, Principal::AssumedRole { .. } | Principal::FederatedUser { .. }) => return Err(super::needs_user_name()),
        (None, Principal::Root) => {
            // The root user describing itself: allowed in its own account
            // (SCPs aside), as for any other action on it.
            let proof = authz::authorize(ctx, Request { action: "iam:GetUser", resource: &ctx.caller.arn() })?;
            // AWS describes the root user by its account id and root ARN.
            x.open("User")
                .elem("UserId", &ctx.caller.account.to_string())
                .elem("Arn", &ctx.caller.arn())
                .elem("CreateDate", &format_iso8601(acct.account().map_or(0, |a| a.created)))
                .close("User");
            proof
        }
    };
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let prefix = ctx.params.get("PathPrefix").unwrap_or("/");
    let mut v = Violations::default();
    v.length("PathPrefix", prefix, 1, 512);
    v.finish()?;
    let page = Page::from_params(ctx)?;
    let resource = format!("arn:aws:iam::{}:user/", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:ListUsers", resource: &resource })?;
    let acct = account(ctx)?;
    let matching: Vec<&User> = acct.users.values().map(AsRef::as_ref).filter(|u: &&User| u.path.starts_with(prefix)).collect();
    let mut x = Xml::new();
    x.open("Users");
    for u in matching.iter().skip(page.start).take(page.max) {
        write_user(&mut x, "member", u, false);
    }
    x.close("Users");
    page.finish(&mut x, matching.len());
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("UserName")?;
    let mut v = Violations::default();
    check_user_name(&mut v, "UserName", name);
    v.finish()?;
    let arn = account(ctx)?.user(name).map_or_else(|| user_arn(ctx, "/", name), User::arn);
    let proof = authz::authorize(ctx, Request { action: "iam:DeleteUser", resource: &arn })?;
    let account_id = ctx.caller.account;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = snap.account(&account_id).ok_or_else(|| ApiError::internal("account missing"))?;
            let user = acct.user(name).ok_or_else(|| no_such_user(name))?;
            if !acct.keys_of(Some(&user.id)).is_empty() {
                return Err(ApiError::delete_conflict("Cannot delete entity, must delete access keys first."));
            }
            if acct.mfa.values().any(|e| e.device.assigned.as_ref().is_some_and(|(u, _)| *u == user.id)) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must remove MFA device first."));
            }
            if acct.groups_of.get(&user.id).is_some_and(|g| !g.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must remove user from all groups first."));
            }
            if acct.inline.get(&user.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must delete policies first."));
            }
            if acct.attached.get(&user.id).is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::delete_conflict("Cannot delete entity, must detach all policies first."));
            }
            Ok((vec![Op::DeleteUser(user.id.clone())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("UserName")?;
    let new_name = ctx.params.get("NewUserName");
    let new_path = ctx.params.get("NewPath");
    let mut v = Violations::default();
    check_user_name(&mut v, "UserName", name);
    if let Some(n) = new_name {
        check_user_name(&mut v, "NewUserName", n);
    }
    if let Some(p) = new_path {
        check_path(&mut v, "NewPath", p);
    }
    v.finish()?;
    let arn = account(ctx)?.user(name).map_or_else(|| user_arn(ctx, "/", name), User::arn);
    let proof = authz::authorize(ctx, Request { action: "iam:UpdateUser", resource: &arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let user = acct.user(name).ok_or_else(|| no_such_user(name))?;
            if let Some(n) = new_name
                && !n.eq_ignore_ascii_case(name)
                && acct.user(n).is_some()
            {
                return Err(ApiError::entity_already_exists(format!("User with name {n} already exists.")));
            }
            let mut updated = user.clone();
            if let Some(n) = new_name {
                updated.name = n.to_owned();
            }
            if let Some(p) = new_path {
                updated.path = p.to_owned();
            }
            Ok((vec![Op::RenameUser { id: user.id.clone(), name: updated.name, path: updated.path }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}
