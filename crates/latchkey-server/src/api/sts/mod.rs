//! STS actions.

mod assume_role;
mod tokens;

use latchkey_model::{AccessKeyId, AccountId, KeyKind, SecretAccessKey, format_iso8601};
use latchkey_token::SessionClaims;

use crate::{ApiError, ErrorCode};
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Authorized, Request};
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
    let proof = Authorized::no_permission_needed("sts:GetCallerIdentity")?;
    let mut x = Xml::new();
    x.elem("Arn", &ctx.caller.arn())
        .elem("UserId", &ctx.caller.user_id())
        .elem("Account", &ctx.caller.account.to_string());
    Ok(Answer::new(proof, Some(x.into_string())))
}

fn decode_authorization_message(ctx: &Ctx<'_>) -> Output {
    let encoded = ctx.params.required("EncodedMessage")?;
    let mut v = Violations::default();
    v.length("EncodedMessage", encoded, 1, 10240);
    v.finish()?;
    let proof = authz::authorize(ctx, Request { action: "sts:DecodeAuthorizationMessage", resource: "*" })?;
    let decoded = authz::decode_message(ctx, encoded)?;
    let mut x = Xml::new();
    x.elem("DecodedMessage", &decoded.to_string());
    Ok(Answer::new(proof, Some(x.into_string())))
}

fn get_access_key_info(ctx: &Ctx<'_>) -> Output {
    let key = ctx.params.required("AccessKeyId")?;
    let mut v = Violations::default();
    v.length("AccessKeyId", key, 16, 128);
    v.pattern("AccessKeyId", key, "[\\w]*", |c| c.is_ascii_alphanumeric() || c == '_');
    v.finish()?;
    let proof = authz::authorize(ctx, Request { action: "sts:GetAccessKeyInfo", resource: "*" })?;
    let account = AccessKeyId::decode_account(key)
        .ok_or_else(|| ApiError::validation(format!("The access key ID {key} is not valid.")))?;
    let mut x = Xml::new();
    x.elem("Account", &account.to_string());
    Ok(Answer::new(proof, Some(x.into_string())))
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
    let kind = match &claims.kind {
        latchkey_token::SessionKind::AssumedRole { .. } => "AssumeRole",
        latchkey_token::SessionKind::FederatedUser { .. } => "GetFederationToken",
        latchkey_token::SessionKind::SessionToken { .. } => "GetSessionToken",
    };
    ctx.note(|n| n.credentials(kind, key_id.as_str(), claims.expires_at));
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

/// `PolicyArns.member.N.arn`, the managed session policies.
fn policy_arns_param<'p>(ctx: &'p Ctx<'_>) -> Vec<&'p str> {
    ctx.params.struct_list("PolicyArns").iter().filter_map(|m| m.get("arn").copied()).collect()
}

/// Validates an inline session policy and returns it minified, as the
/// token carries it.
fn session_policy(doc: Option<&str>) -> Result<Option<String>, ApiError> {
    doc.map(|d| latchkey_policy::parse(d, latchkey_policy::PolicyKind::Session).map(|_| minify(d)).map_err(|e| ApiError::from(&e)))
        .transpose()
}

/// The session policies' plain text the quota counts.
const PACKED_LIMIT: usize = 2048;

/// PackedPolicySize: session policy, managed policy ARNs and session tags
/// as a percentage of the quota; above 100, PackedPolicyTooLarge.
fn packed_size(policy: Option<&str>, arns: &[&str], tags: &[(String, String)]) -> Result<usize, ApiError> {
    let packed = policy.map_or(0, latchkey_policy::policy_size)
        + arns.iter().map(|a| a.len()).sum::<usize>()
        + tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let percent = (packed * 100).div_ceil(PACKED_LIMIT);
    if percent > 100 {
        return Err(ApiError::of(
            ErrorCode::PackedPolicyTooLarge,
            format!("Packed policy consumes {percent}% of allotted space, please use smaller policy."),
        ));
    }
    Ok(percent)
}

/// Removes insignificant whitespace from a JSON document (outside strings),
/// so the token carries the policy compactly.
fn minify(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in doc.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::minify;

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(minify("{ \"a b\" : [ 1 , \"x\\\" y\" ] }"), "{\"a b\":[1,\"x\\\" y\"]}");
    }
}
