//! What users, groups and roles own alike: tags, attached managed policies,
//! inline policies, permissions boundaries. One implementation serves all
//! three kinds, as IAM's actions for them mirror each other.

use latchkey_model::{Attachment, InlinePolicy, OwnerKind, Tag};
use latchkey_policy::{Limit, PolicyKind};
use latchkey_store::Op;

use super::users::parse_tags;
use super::{Owner, Page, account, account_in, authorize_owner, check_arn, check_document, find_owner, url_encode};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::Authorized;
use crate::protocol::query::{Violations, is_name_char};
use crate::protocol::xml::Xml;
use crate::state::AccountState;

/// AWS's default quota of managed policies per user, group or role.
const MAX_ATTACHED: usize = 10;
/// AWS's quota of tags per entity.
const MAX_TAGS: usize = 50;

fn kind_word(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::User => "User",
        OwnerKind::Group => "Group",
        OwnerKind::Role => "Role",
    }
}

/// Authorises `action` on the owner named in the request, then resolves it.
fn authorized_owner(ctx: &Ctx<'_>, kind: OwnerKind, action: &str) -> Result<(Owner, Authorized), ApiError> {
    authorize_owner(ctx, kind, action, |_| {})
}

/// Re-reads the owner under the write lock; it may have been deleted meanwhile.
fn current(acct: &AccountState, owner: &Owner) -> Result<Owner, ApiError> {
    find_owner(acct, owner.kind, &owner.name)
}

fn current_tags(acct: &AccountState, owner: &Owner) -> Vec<Tag> {
    find_owner(acct, owner.kind, &owner.name).map(|o| o.tags).unwrap_or_default()
}

pub(super) async fn tag(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let new_tags = parse_tags(ctx)?;
    if new_tags.is_empty() {
        return Err(crate::protocol::query::null_error("Tags"));
    }
    let action = format!("iam:Tag{}", kind_word(kind));
    let (owner, proof) = authorize_owner(ctx, kind, &action, |c| {
        for t in &new_tags {
            c.insert(&format!("aws:RequestTag/{}", t.key), t.value.clone());
        }
        c.insert_multi("aws:TagKeys", new_tags.iter().map(|t| t.key.clone()));
    })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            current(acct, &owner)?;
            let mut tags = current_tags(acct, &owner);
            for t in &new_tags {
                match tags.iter_mut().find(|e| e.key.eq_ignore_ascii_case(&t.key)) {
                    Some(existing) => existing.value.clone_from(&t.value),
                    None => tags.push(t.clone()),
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(ApiError::limit_exceeded(format!("The number of tags has reached the maximum limit of {MAX_TAGS}.")));
            }
            Ok((vec![Op::SetTags(owner.kind, owner.id.clone(), tags)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn untag(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let keys = ctx.params.list("TagKeys");
    if keys.is_empty() {
        return Err(crate::protocol::query::null_error("TagKeys"));
    }
    let action = format!("iam:Untag{}", kind_word(kind));
    let (owner, proof) = authorize_owner(ctx, kind, &action, |c| {
        c.insert_multi("aws:TagKeys", keys.iter().map(|k| (*k).to_owned()));
    })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            current(acct, &owner)?;
            let mut tags = current_tags(acct, &owner);
            tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            Ok((vec![Op::SetTags(owner.kind, owner.id.clone(), tags)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn list_tags(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let page = Page::from_params(ctx)?;
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:List{}Tags", kind_word(kind)))?;
    let mut x = Xml::new();
    page.write(&mut x, "Tags", &owner.tags, |x, t| {
        x.open("member").elem("Key", &t.key).elem("Value", &t.value).close("member");
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}

fn policy_arn_param(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let arn = ctx.params.required("PolicyArn")?;
    let mut v = Violations::default();
    check_arn(&mut v, "PolicyArn", arn);
    v.finish()?;
    Ok(arn.to_owned())
}

fn not_attachable(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

/// AttachUserPolicy and DetachUserPolicy, and their group and role twins.
pub(super) async fn attach(ctx: &Ctx<'_>, kind: OwnerKind, attach: bool) -> Output {
    let arn = policy_arn_param(ctx)?;
    let verb = if attach { "Attach" } else { "Detach" };
    let action = format!("iam:{verb}{}Policy", kind_word(kind));
    let (owner, proof) = authorize_owner(ctx, kind, &action, |c| {
        c.insert("iam:PolicyARN", arn.clone());
    })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let owner = current(acct, &owner)?;
            let attached = acct.attached(&owner.id);
            let is_attached = attached.contains(&arn);
            let change = Attachment { policy_arn: arn.clone(), owner_kind: kind, owner: owner.id };
            if !attach {
                if !is_attached {
                    return Err(ApiError::no_such_entity(format!("Policy {arn} was not found.")));
                }
                return Ok((vec![Op::Detach(change)], ()));
            }
            if acct.managed(&arn).is_none() {
                return Err(not_attachable(&arn));
            }
            if is_attached {
                return Ok((Vec::new(), ()));
            }
            if attached.len() >= MAX_ATTACHED {
                return Err(ApiError::limit_exceeded(format!(
                    "Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED}",
                    kind_word(kind)
                )));
            }
            Ok((vec![Op::Attach(change)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn list_attached(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let page = Page::from_params(ctx)?;
    let prefix = ctx.params.get("PathPrefix").unwrap_or("/");
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:ListAttached{}Policies", kind_word(kind)))?;
    let acct = account(ctx)?;
    let arns: Vec<&String> = acct
        .attached
        .get(&owner.id)
        .map(|v| v.iter().filter(|a| policy_path(a).starts_with(prefix)).collect())
        .unwrap_or_default();
    let mut x = Xml::new();
    page.write(&mut x, "AttachedPolicies", &arns, |x, arn| {
        x.open("member").elem("PolicyName", policy_name(arn)).elem("PolicyArn", arn).close("member");
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// `arn:aws:iam::ACCT:policy/PATH/NAME` → `NAME`.
pub(super) fn policy_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:aws:iam::ACCT:policy/PATH/NAME` → `/PATH/`.
pub(super) fn policy_path(arn: &str) -> &str {
    let resource = arn.split_once(":policy").map_or("", |(_, r)| r);
    resource.rfind('/').and_then(|i| resource.get(..=i)).unwrap_or("/")
}

fn policy_name_param(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let name = ctx.params.required("PolicyName")?;
    let mut v = Violations::default();
    v.length("PolicyName", name, 1, 128);
    v.pattern("PolicyName", name, "[\\w+=,.@-]+", is_name_char);
    v.finish()?;
    Ok(name.to_owned())
}

fn inline_limit(owner: &Owner) -> Limit<'_> {
    match owner.kind {
        OwnerKind::User => Limit::InlineUser { user: &owner.name },
        OwnerKind::Group => Limit::InlineGroup { group: &owner.name },
        OwnerKind::Role => Limit::InlineRole { role: &owner.name },
    }
}

pub(super) async fn put_inline(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let name = policy_name_param(ctx)?;
    let doc = ctx.params.required("PolicyDocument")?.to_owned();
    let action = format!("iam:Put{}Policy", kind_word(kind));
    let (owner, proof) = authorized_owner(ctx, kind, &action)?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let owner = current(acct, &owner)?;
            // The quota covers all of an entity's inline policies together.
            let others: usize = acct
                .inline
                .get(&owner.id)
                .map(|m| m.iter().filter(|(n, _)| **n != name).map(|(_, e)| latchkey_policy::policy_size(&e.document)).sum())
                .unwrap_or(0);
            check_document(&doc, PolicyKind::Identity, inline_limit(&owner), others)?;
            Ok((vec![Op::PutInline(InlinePolicy { owner_kind: kind, owner: owner.id, name: name.clone(), document: doc.clone() })], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

fn no_such_inline(kind: OwnerKind, name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The {} policy with name {name} cannot be found.", kind.as_str()))
}

pub(super) fn get_inline(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let name = policy_name_param(ctx)?;
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:Get{}Policy", kind_word(kind)))?;
    let entry = account(ctx)?.inline.get(&owner.id).and_then(|m| m.get(&name)).ok_or_else(|| no_such_inline(kind, &name))?;
    let mut x = Xml::new();
    x.elem(super::owner_param(kind), &owner.name).elem("PolicyName", &name).elem("PolicyDocument", &url_encode(&entry.document));
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list_inline(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let page = Page::from_params(ctx)?;
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:List{}Policies", kind_word(kind)))?;
    let names: Vec<&String> = account(ctx)?.inline.get(&owner.id).map(|m| m.keys().collect()).unwrap_or_default();
    let mut x = Xml::new();
    page.write(&mut x, "PolicyNames", &names, |x, n| {
        x.elem("member", n);
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) async fn delete_inline(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let name = policy_name_param(ctx)?;
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:Delete{}Policy", kind_word(kind)))?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let owner = current(acct, &owner)?;
            if !acct.inline.get(&owner.id).is_some_and(|m| m.contains_key(&name)) {
                return Err(no_such_inline(kind, &name));
            }
            Ok((vec![Op::DeleteInline(owner.kind, owner.id, name.clone())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn put_boundary(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let arn = ctx.params.required("PermissionsBoundary")?.to_owned();
    let mut v = Violations::default();
    check_arn(&mut v, "PermissionsBoundary", &arn);
    v.finish()?;
    let action = format!("iam:Put{}PermissionsBoundary", kind_word(kind));
    let (owner, proof) = authorize_owner(ctx, kind, &action, |c| {
        c.insert("iam:PermissionsBoundary", arn.clone());
    })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let owner = current(acct, &owner)?;
            if acct.managed(&arn).is_none() {
                return Err(ApiError::no_such_entity(format!("Scope ARN: {arn} does not exist or is not attachable.")));
            }
            Ok((vec![Op::SetBoundary(kind, owner.id, Some(arn.clone()))], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn delete_boundary(ctx: &Ctx<'_>, kind: OwnerKind) -> Output {
    let (owner, proof) = authorized_owner(ctx, kind, &format!("iam:Delete{}PermissionsBoundary", kind_word(kind)))?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let owner = current(acct, &owner)?;
            Ok((vec![Op::SetBoundary(kind, owner.id, None)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

/// Validates the `PermissionsBoundary` parameter of CreateUser/CreateRole.
pub(super) fn boundary_param(ctx: &Ctx<'_>) -> Result<Option<String>, ApiError> {
    let Some(arn) = ctx.params.get("PermissionsBoundary") else { return Ok(None) };
    let mut v = Violations::default();
    check_arn(&mut v, "PermissionsBoundary", arn);
    v.finish()?;
    Ok(Some(arn.to_owned()))
}

/// After authorisation: the boundary must name an existing managed policy.
pub(super) fn check_boundary_exists(acct: &AccountState, arn: Option<&str>) -> Result<(), ApiError> {
    match arn {
        Some(arn) if acct.managed(arn).is_none() => {
            Err(ApiError::no_such_entity(format!("Scope ARN: {arn} does not exist or is not attachable.")))
        }
        _ => Ok(()),
    }
}
