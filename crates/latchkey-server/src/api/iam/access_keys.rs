use latchkey_model::{AccessKey, AccessKeyId, AccessKeyOwner, KeyKind, KeyStatus, SecretAccessKey, UniqueId, format_iso8601};
use latchkey_store::Op;

use super::{Page, account, check_user_name, no_such_user};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authn::Principal;
use crate::authz::{self, Authorized, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::Snapshot;

/// AWS's quota of access keys per user (and per root).
const MAX_KEYS: usize = 2;

/// Whose keys a call is about: the named user, or the caller itself.
#[derive(Debug, Clone)]
struct Target {
    /// `None` for root.
    user_id: Option<UniqueId>,
    user_name: Option<String>,
    arn: String,
}

/// Authorises `action` on the key owner the request names (or the caller),
/// before saying whether that user exists. Returns the target with the proof.
fn authorized_target(ctx: &Ctx<'_>, action: &str) -> Result<(Target, Authorized), ApiError> {
    if ctx.params.get("UserName").is_some() {
        let (u, proof) = super::authorize_owner(ctx, latchkey_model::OwnerKind::User, action, |_| {})?;
        return Ok((Target { user_id: Some(u.id), user_name: Some(u.name), arn: u.arn }, proof));
    }
    let t = target(ctx, &ctx.snap)?;
    let proof = authz::authorize(ctx, Request { action, resource: &t.arn })?;
    Ok((t, proof))
}

fn target(ctx: &Ctx<'_>, snap: &Snapshot) -> Result<Target, ApiError> {
    let acct = snap.account(&ctx.caller.account).ok_or_else(|| ApiError::internal("account missing"))?;
    match (ctx.params.get("UserName"), &ctx.caller.principal) {
        (Some(name), _) => {
            let mut v = Violations::default();
            check_user_name(&mut v, "UserName", name);
            v.finish()?;
            let u = acct.user(name).ok_or_else(|| no_such_user(name))?;
            Ok(Target { user_id: Some(u.id.clone()), user_name: Some(u.name.clone()), arn: u.arn() })
        }
        (None, Principal::Root) => Ok(Target { user_id: None, user_name: None, arn: ctx.caller.arn() }),
        (None, Principal::User { id, name, arn }) => Ok(Target {
            user_id: Some(UniqueId::from_stored(id.clone())),
            user_name: Some(name.clone()),
            arn: arn.clone(),
        }),
        (None, Principal::AssumedRole { .. } | Principal::FederatedUser { .. }) => Err(super::needs_user_name()),
    }
}

fn check_key_id(v: &mut Violations, id: &str) {
    v.length("AccessKeyId", id, 16, 128);
    v.pattern("AccessKeyId", id, "[\\w]+", |c| c.is_ascii_alphanumeric() || c == '_');
}

fn no_such_key(id: &str) -> ApiError {
    ApiError::no_such_entity(format!("The Access Key with id {id} cannot be found."))
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Output {
    let (t, proof) = authorized_target(ctx, "iam:CreateAccessKey")?;
    let account_id = ctx.caller.account;
    let key = AccessKey {
        id: AccessKeyId::generate(KeyKind::LongTerm, &account_id),
        account: account_id,
        owner: t.user_id.clone().map_or(AccessKeyOwner::Root, AccessKeyOwner::User),
        status: KeyStatus::Active,
        created: ctx.now,
    };
    let secret = SecretAccessKey::generate();
    let (key, secret) = ctx
        .app
        .state
        .write(&proof, |snap| {
            // Re-resolve under the write lock: the user may have gone meanwhile.
            let t = target(ctx, snap)?;
            let acct = snap.account(&account_id).ok_or_else(|| ApiError::internal("account missing"))?;
            if acct.keys_of(t.user_id.as_ref()).len() >= MAX_KEYS {
                return Err(ApiError::limit_exceeded(format!("Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")));
            }
            Ok((vec![Op::InsertAccessKey(key.clone(), secret.clone())], (key, secret)))
        })
        .await?;
    // The trail keeps the new key's id, never its secret.
    ctx.note(|n| {
        n.respond(
            "accessKey",
            serde_json::json!({
                "accessKeyId": key.id.as_str(),
                "status": key.status.as_str(),
                "userName": t.user_name.as_deref(),
                "createDate": format_iso8601(key.created),
            }),
        );
        n.lookup_resources.push(latchkey_audit::LookupResource { kind: "AWS::IAM::AccessKey".to_owned(), name: key.id.as_str().to_owned() });
    });
    let mut x = Xml::new();
    x.open("AccessKey")
        .opt("UserName", t.user_name.as_deref())
        .elem("AccessKeyId", key.id.as_str())
        .elem("Status", key.status.as_str())
        .elem("SecretAccessKey", secret.expose())
        .elem("CreateDate", &format_iso8601(key.created))
        .close("AccessKey");
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let page = Page::from_params(ctx)?;
    let (t, proof) = authorized_target(ctx, "iam:ListAccessKeys")?;
    let ids = account(ctx)?.keys_of(t.user_id.as_ref());
    let mut x = Xml::new();
    x.open("AccessKeyMetadata");
    for id in ids.iter().skip(page.start).take(page.max) {
        if let Some(entry) = ctx.snap.keys.get(id) {
            x.open("member")
                .opt("UserName", t.user_name.as_deref())
                .elem("AccessKeyId", id)
                .elem("Status", entry.key.status.as_str())
                .elem("CreateDate", &format_iso8601(entry.key.created))
                .close("member");
        }
    }
    x.close("AccessKeyMetadata");
    page.finish(&mut x, ids.len());
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// Resolves the key named in the request, which must belong to the target.
fn owned_key(ctx: &Ctx<'_>, snap: &Snapshot, t: &Target, id: &str) -> Result<AccessKeyId, ApiError> {
    let entry = snap.keys.get(id).ok_or_else(|| no_such_key(id))?;
    let owner = match &entry.key.owner {
        AccessKeyOwner::Root => None,
        AccessKeyOwner::User(u) => Some(u),
    };
    if entry.key.account != ctx.caller.account || owner != t.user_id.as_ref() {
        return Err(no_such_key(id));
    }
    Ok(entry.key.id.clone())
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Output {
    let id = ctx.params.required("AccessKeyId")?;
    let status_text = ctx.params.required("Status")?;
    let mut v = Violations::default();
    check_key_id(&mut v, id);
    let status = KeyStatus::parse(status_text);
    if status.is_none() {
        v.add("Status", Some(status_text), "Member must satisfy enum value set: [Active, Inactive]");
    }
    v.finish()?;
    let status = status.ok_or_else(|| ApiError::internal("status checked above"))?;
    let (t, proof) = authorized_target(ctx, "iam:UpdateAccessKey")?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let key = owned_key(ctx, snap, &t, id)?;
            Ok((vec![Op::SetAccessKeyStatus(key, status)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Output {
    let id = ctx.params.required("AccessKeyId")?;
    let mut v = Violations::default();
    check_key_id(&mut v, id);
    v.finish()?;
    let (t, proof) = authorized_target(ctx, "iam:DeleteAccessKey")?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let key = owned_key(ctx, snap, &t, id)?;
            Ok((vec![Op::DeleteAccessKey(key)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn last_used(ctx: &Ctx<'_>) -> Output {
    let id = ctx.params.required("AccessKeyId")?;
    let mut v = Violations::default();
    check_key_id(&mut v, id);
    v.finish()?;
    let entry = ctx.snap.keys.get(id).filter(|e| e.key.account == ctx.caller.account);
    let acct = account(ctx)?;
    let (user_name, arn) = match entry.map(|e| &e.key.owner) {
        Some(AccessKeyOwner::User(uid)) => {
            let u = acct.user_by_id(uid);
            (u.map(|u| u.name.clone()), u.map_or_else(|| ctx.caller.arn(), latchkey_model::User::arn))
        }
        Some(AccessKeyOwner::Root) => (None, latchkey_model::Arn::root(&ctx.caller.account)),
        None => (None, format!("arn:aws:iam::{}:user/*", ctx.caller.account)),
    };
    let proof = authz::authorize(ctx, Request { action: "iam:GetAccessKeyLastUsed", resource: &arn })?;
    let entry = entry.ok_or_else(|| no_such_key(id))?;
    let used = ctx.app.key_use(id).or_else(|| entry.last_used.clone());
    let mut x = Xml::new();
    x.opt("UserName", user_name.as_deref()).open("AccessKeyLastUsed");
    match used {
        Some((at, service, region)) => {
            x.elem("LastUsedDate", &format_iso8601(at)).elem("ServiceName", &service).elem("Region", &region);
        }
        None => {
            x.elem("ServiceName", "N/A").elem("Region", "N/A");
        }
    }
    x.close("AccessKeyLastUsed");
    Ok(Answer::new(proof, Some(x.into_string())))
}
