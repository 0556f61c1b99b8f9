//! GetSessionToken and GetFederationToken: sessions of an IAM user (or root)
//! rather than of a role.

use latchkey_token::{SessionClaims, SessionKind, SessionUser};

use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authn::Principal;
use crate::authz::{self, Authorized, Request};
use crate::protocol::query::{Violations, is_name_char};
use crate::protocol::xml::Xml;

/// DurationSeconds bounds of both actions; root sessions end within an hour.
const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 129_600;
const DEFAULT_DURATION: i64 = 43_200;
const ROOT_MAX: i64 = 3600;

fn duration(ctx: &Ctx<'_>) -> Result<i64, ApiError> {
    let d = ctx.params.int("DurationSeconds")?;
    if let Some(d) = d {
        let mut v = Violations::default();
        v.range("DurationSeconds", d, MIN_DURATION, MAX_DURATION);
        v.finish()?;
    }
    // AWS documents root sessions as 900 s to one hour, one hour by default:
    // a longer request is shortened rather than refused.
    Ok(match ctx.caller.principal {
        Principal::Root => d.unwrap_or(ROOT_MAX).min(ROOT_MAX),
        _ => d.unwrap_or(DEFAULT_DURATION),
    })
}

fn source_user(ctx: &Ctx<'_>) -> Option<SessionUser> {
    match &ctx.caller.principal {
        Principal::User { id, name, .. } => {
            let path = ctx
                .snap
                .account(&ctx.caller.account)
                .and_then(|a| a.user_by_id(&latchkey_model::UniqueId::from_stored(id.clone())))
                .map_or_else(|| "/".to_owned(), |u| u.path.clone());
            Some(SessionUser { id: id.clone(), name: name.clone(), path })
        }
        _ => None,
    }
}

/// Needs no permission: any IAM user (or root) may get a session of itself.
pub(super) fn get_session_token(ctx: &Ctx<'_>) -> Output {
    let mut v = Violations::default();
    if let Some(s) = ctx.params.get("SerialNumber") {
        v.length("SerialNumber", s, 9, 256);
    }
    if let Some(t) = ctx.params.get("TokenCode") {
        v.length("TokenCode", t, 6, 6);
    }
    v.finish()?;
    let duration = duration(ctx)?;
    let proof = Authorized::no_permission_needed("sts:GetSessionToken")?;
    let mfa = super::check_mfa(ctx)?;
    let caller = ctx.caller;
    let expires_at = ctx.now + duration;
    let minted = super::mint(ctx, &caller.account, |secret_access_key| SessionClaims {
        account: caller.account.to_string(),
        kind: SessionKind::SessionToken { user: source_user(ctx) },
        session_name: String::new(),
        issued_at: ctx.now,
        expires_at,
        secret_access_key,
        mfa_authenticated: mfa,
        mfa_auth_time: mfa.then_some(ctx.now),
        source_identity: None,
        session_policy: None,
        policy_arns: Vec::new(),
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        chained: false,
        source_arn: caller.arn(),
        source_access_key_id: caller.access_key_id.clone(),
    })?;
    let mut x = Xml::new();
    super::write_credentials(&mut x, &minted);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get_federation_token(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("Name")?;
    let mut v = Violations::default();
    v.length("Name", name, 2, 32);
    v.pattern("Name", name, "[\\w+=,.@-]*", is_name_char);
    let policy = ctx.params.get("Policy");
    if let Some(doc) = policy {
        v.length("Policy", doc, 1, 2048);
    }
    let policy_arns = super::policy_arns_param(ctx);
    if policy_arns.len() > 10 {
        v.add("PolicyArns", None, "Member must have length less than or equal to 10");
    }
    let tags: Vec<(String, String)> = ctx
        .params
        .struct_list("Tags")
        .iter()
        .map(|m| (m.get("Key").copied().unwrap_or_default().to_owned(), m.get("Value").copied().unwrap_or_default().to_owned()))
        .collect();
    if tags.len() > 50 {
        v.add("Tags", None, "Member must have length less than or equal to 50");
    }
    for (k, val) in &tags {
        v.length("Tags.member.Key", k, 1, 128);
        v.length("Tags.member.Value", val, 0, 256);
    }
    v.finish()?;
    let duration = duration(ctx)?;
    let caller = ctx.caller;
    let account = caller.account;
    let arn = format!("arn:aws:sts::{account}:federated-user/{name}");
    let proof = authz::authorize(ctx, Request { action: "sts:GetFederationToken", resource: &arn })?;
    let session_policy = super::session_policy(policy)?;
    let packed_percent = super::packed_size(session_policy.as_deref(), &policy_arns, &tags)?;
    let user_id = source_user(ctx).map(|u| u.id);
    let expires_at = ctx.now + duration;
    let minted = super::mint(ctx, &account, |secret_access_key| SessionClaims {
        account: account.to_string(),
        kind: SessionKind::FederatedUser { name: name.to_owned(), user_id },
        session_name: name.to_owned(),
        issued_at: ctx.now,
        expires_at,
        secret_access_key,
        mfa_authenticated: false,
        mfa_auth_time: None,
        source_identity: None,
        session_policy,
        policy_arns: policy_arns.iter().map(|a| (*a).to_owned()).collect(),
        tags: tags.clone(),
        transitive_tag_keys: Vec::new(),
        chained: false,
        source_arn: caller.arn(),
        source_access_key_id: caller.access_key_id.clone(),
    })?;
    let mut x = Xml::new();
    super::write_credentials(&mut x, &minted);
    ctx.note(|n| {
        n.respond("federatedUser", serde_json::json!({ "federatedUserId": format!("{account}:{name}"), "arn": arn }));
        n.lookup_resources.push(latchkey_audit::LookupResource { kind: "AWS::STS::FederatedUser".to_owned(), name: arn.clone() });
    });
    x.open("FederatedUser")
        .elem("FederatedUserId", &format!("{account}:{name}"))
        .elem("Arn", &arn)
        .close("FederatedUser");
    x.elem("PackedPolicySize", &packed_percent.to_string());
    Ok(Answer::new(proof, Some(x.into_string())))
}
