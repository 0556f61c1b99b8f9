//! STS actions.

mod assume_role;
mod tokens;

use latchkey_model::{AccessKeyId, AccountId, KeyKind, SecretAccessKey, format_iso8601};
use latchkey_token::SessionClaims;

use crate::ApiError;
use crate::api::{Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;

/// Every STS action latchkey routes.
pub const ACTIONS: &[&str] =
    &["GetCallerIdentity", "GetAccessKeyInfo", "AssumeRole", "GetSessionToken", "GetFederationToken", "DecodeAuthorizationMessage"];

/// Runs `action`.
pub async fn dispatch(action: &str, ctx: &Ctx<'_>) -> Option<Output> {
    Some(match action {
        "GetCallerIdentity" => get_caller_identity(ctx),
        "GetAccessKeyInfo" => get_access_key_info(ctx),
        "AssumeRole" => assume_role::assume_role(ctx).await,
        "GetSessionToken" => tokens::get_session_token(ctx),
        "GetFederationToken" => tokens::get_federation_token(ctx),
        "DecodeAuthorizationMessage" => decode_authorization_message(ctx),
        _ => return None,
    })
}

/// Needs no permission, and an explicit deny cannot stop it (AWS's rule).
fn get_caller_identity(ctx: &Ctx<'_>) -> Output {
    authz::no_permission_needed(ctx);
    let mut x = Xml::new();
    x.elem("Arn", &ctx.caller.arn())
        .elem("UserId", &ctx.caller.user_id())
        .elem("Account", &ctx.caller.account.to_string());
    Ok(Some(x.into_string()))
}

fn decode_authorization_message(ctx: &Ctx<'_>) -> Output {
    let encoded = ctx.params.required("EncodedMessage")?;
    let mut v = Violations::default();
    v.length("EncodedMessage", encoded, 1, 10240);
    v.finish()?;
    authz::authorize(ctx, Request { action: "sts:DecodeAuthorizationMessage", resource: "*" })?;
    let decoded = authz::decode_message(ctx, encoded)?;
    let mut x = Xml::new();
    x.elem("DecodedMessage", &decoded.to_string());
    Ok(Some(x.into_string()))
}

fn get_access_key_info(ctx: &Ctx<'_>) -> Output {
    let key = ctx.params.required("AccessKeyId")?;
    let mut v = Violations::default();
    v.length("AccessKeyId", key, 16, 128);
    v.pattern("AccessKeyId", key, "[\\w]*", |c| c.is_ascii_alphanumeric() || c == '_');
    v.finish()?;
    authz::authorize(ctx, Request { action: "sts:GetAccessKeyInfo", resource: "*" })?;
    let account = AccessKeyId::decode_account(key)
        .ok_or_else(|| ApiError::validation(format!("The access key ID {key} is not valid.")))?;
    let mut x = Xml::new();
    x.elem("Account", &account.to_string());
    Ok(Some(x.into_string()))
}

/// Temporary credentials, sealed and ready to hand out.
struct Minted {
    key_id: AccessKeyId,
    secret: SecretAccessKey,
    token: String,
    expires_at: i64,
}

/// Mints an `ASIA` key for `account`, a secret, and the token sealing the
/// claims `build` makes around that secret.
fn mint(ctx: &Ctx<'_>, account: &AccountId, build: impl FnOnce(String) -> SessionClaims) -> Result<Minted, ApiError> {
    let ring = ctx
        .snap
        .token_ring
        .clone()
        .ok_or_else(|| ApiError::service_unavailable("No session-token key is available yet."))?;
    let key_id = AccessKeyId::generate(KeyKind::Temporary, account);
    let secret = SecretAccessKey::generate_temporary();
    let claims = build(secret.expose().to_owned());
    let token = ring.seal(&claims, key_id.as_str()).map_err(ApiError::internal)?;
    Ok(Minted { key_id, secret, token, expires_at: claims.expires_at })
}

/// `<Credentials>…</Credentials>`
fn write_credentials(x: &mut Xml, m: &Minted) {
    x.open("Credentials")
        .elem("AccessKeyId", m.key_id.as_str())
        .elem("SecretAccessKey", m.secret.expose())
        .elem("SessionToken", &m.token)
        .elem("Expiration", &format_iso8601(m.expires_at))
        .close("Credentials");
}

/// Checks `SerialNumber` + `TokenCode` when given: the device must be
/// enabled for the calling IAM user and the code valid and unused. Returns
/// whether MFA was presented.
fn check_mfa(ctx: &Ctx<'_>) -> Result<bool, ApiError> {
    let serial = ctx.params.get("SerialNumber");
    let code = ctx.params.get("TokenCode");
    match (serial, code) {
        (None, None) => Ok(false),
        (Some(serial), Some(code)) => {
            let user_id = match &ctx.caller.principal {
                crate::authn::Principal::User { id, .. } => id.as_str(),
                _ => return Err(ApiError::access_denied("MultiFactorAuthentication failed, unable to validate MFA code.")),
            };
            let acct = ctx
                .snap
                .account(&ctx.caller.account)
                .ok_or_else(|| ApiError::internal("caller's account missing"))?;
            ctx.app.mfa_guard.check(acct, user_id, serial, code, ctx.now)?;
            Ok(true)
        }
        (Some(_), None) => Err(ApiError::access_denied("MultiFactorAuthentication failed, unable to validate MFA code.")),
        (None, Some(_)) => Err(crate::protocol::query::null_error("SerialNumber")),
    }
}
