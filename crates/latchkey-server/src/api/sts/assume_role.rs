//! AssumeRole: the trust policy (and, where AWS requires it, the caller's own
//! policies) decide; the session is sealed into its token, so any node can
//! verify it without a database read.

use latchkey_model::Arn;
use latchkey_policy::Context;
use latchkey_token::{SessionClaims, SessionKind};

use crate::{ApiError, ErrorCode};
use crate::api::{Answer, Ctx, Output};
use crate::authn::Principal;
use crate::authz::{self, Request, base_context, decide};
use crate::protocol::query::{Violations, is_name_char};
use crate::protocol::xml::Xml;

/// AWS's bounds on DurationSeconds for AssumeRole.
const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 43_200;
/// Role chaining caps the session at one hour.
const CHAINED_MAX: i64 = 3600;

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// AssumeRole's parameters, validated against AWS's model.
struct Params<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    duration: Option<i64>,
    policy: Option<&'a str>,
    policy_arns: Vec<&'a str>,
    tags: Vec<(String, String)>,
    transitive: Vec<String>,
    external_id: Option<&'a str>,
    serial_number: Option<&'a str>,
    token_code: Option<&'a str>,
    source_identity: Option<&'a str>,
}

fn params<'a>(ctx: &'a Ctx<'_>) -> Result<Params<'a>, ApiError> {
    let p = ctx.params;
    let role_arn = p.required("RoleArn")?;
    let session_name = p.required("RoleSessionName")?;
    let duration = p.int("DurationSeconds")?;
    let mut v = Violations::default();
    v.length("RoleArn", role_arn, 20, 2048);
    v.length("RoleSessionName", session_name, 2, 64);
    v.pattern("RoleSessionName", session_name, "[\\w+=,.@-]*", is_name_char);
    if let Some(d) = duration {
        v.range("DurationSeconds", d, MIN_DURATION, MAX_DURATION);
    }
    let policy = p.get("Policy");
    if let Some(doc) = policy {
        v.length("Policy", doc, 1, 2048);
    }
    let policy_arns = super::policy_arns_param(ctx);
    if policy_arns.len() > 10 {
        v.add("PolicyArns", None, "Member must have length less than or equal to 10");
    }
    for a in &policy_arns {
        v.length("PolicyArns.member.arn", a, 20, 2048);
    }
    let raw_tags = p.struct_list("Tags");
    if raw_tags.len() > 50 {
        v.add("Tags", None, "Member must have length less than or equal to 50");
    }
    let mut tags = Vec::with_capacity(raw_tags.len());
    for m in &raw_tags {
        let key = m.get("Key").copied().unwrap_or_default();
        let value = m.get("Value").copied().unwrap_or_default();
        v.length("Tags.member.Key", key, 1, 128);
        v.pattern("Tags.member.Key", key, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+", tag_char);
        v.length("Tags.member.Value", value, 0, 256);
        v.pattern("Tags.member.Value", value, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*", tag_char);
        tags.push((key.to_owned(), value.to_owned()));
    }
    let transitive: Vec<String> = p.list("TransitiveTagKeys").into_iter().map(str::to_owned).collect();
    if transitive.len() > 50 {
        v.add("TransitiveTagKeys", None, "Member must have length less than or equal to 50");
    }
    let external_id = p.get("ExternalId");
    if let Some(e) = external_id {
        v.length("ExternalId", e, 2, 1224);
        v.pattern("ExternalId", e, "[\\w+=,.@:\\/-]*", |c| is_name_char(c) || c == ':' || c == '/');
    }
    let serial_number = p.get("SerialNumber");
    if let Some(s) = serial_number {
        v.length("SerialNumber", s, 9, 256);
        v.pattern("SerialNumber", s, "[\\w+=/:,.@-]*", |c| is_name_char(c) || c == ':' || c == '/');
    }
    let token_code = p.get("TokenCode");
    if let Some(t) = token_code {
        v.length("TokenCode", t, 6, 6);
        v.pattern("TokenCode", t, "[\\d]*", |c| c.is_ascii_digit());
    }
    let source_identity = p.get("SourceIdentity");
    if let Some(s) = source_identity {
        v.length("SourceIdentity", s, 2, 64);
        v.pattern("SourceIdentity", s, "[\\w+=,.@-]*", is_name_char);
    }
    v.finish()?;
    if source_identity.is_some_and(|s| s.to_ascii_lowercase().starts_with("aws:")) {
        return Err(ApiError::validation("SourceIdentity cannot start with the reserved prefix 'aws:'"));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &tags {
        if !seen.insert(k.to_lowercase()) {
            return Err(ApiError::of(
                ErrorCode::InvalidParameterValue,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(Params {
        role_arn,
        session_name,
        duration,
        policy,
        policy_arns,
        tags,
        transitive,
        external_id,
        serial_number,
        token_code,
        source_identity,
    })
}

fn not_authorized(ctx: &Ctx<'_>, action: &str, role_arn: &str) -> ApiError {
    ApiError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {role_arn}",
        ctx.caller.arn()
    ))
}

pub(super) async fn assume_role(ctx: &Ctx<'_>) -> Output {
    let p = params(ctx)?;
    let caller = ctx.caller;
    let chained = matches!(caller.principal, Principal::AssumedRole { .. });
    match &caller.principal {
        Principal::Root if !caller.is_session() => {
            return Err(ApiError::access_denied("Roles may not be assumed by root accounts."));
        }
        Principal::Root => return Err(ApiError::access_denied("Roles may not be assumed by root accounts.")),
        _ => {}
    }

    // The role: refused exactly like a trust-policy refusal when it does not
    // exist, so that its existence is not revealed.
    let parsed = Arn::parse(p.role_arn).filter(|a| a.service == "iam" && a.resource.starts_with("role/"));
    let role_account = parsed.and_then(|a| a.account_id());
    let role_name = parsed.and_then(|a| a.resource.rsplit('/').next()).unwrap_or_default();
    let entry = role_account.and_then(|acct| ctx.snap.account(&acct)).and_then(|a| a.role(role_name));
    let Some(entry) = entry.filter(|e| e.role.arn() == p.role_arn) else {
        if parsed.is_none() {
            return Err(ApiError::validation(format!("{} is invalid", p.role_arn)));
        }
        return Err(not_authorized(ctx, "sts:AssumeRole", p.role_arn));
    };
    let role = &entry.role;
    let role_arn = role.arn();
    let role_account_text = role.account.to_string();

    let _ = (p.serial_number, p.token_code);
    let mfa = super::check_mfa(ctx)?;

    // Inherited from the calling session when chaining.
    let inherited = caller.session.as_deref().filter(|_| chained);
    let inherited_transitive: Vec<(String, String)> = inherited
        .map(|s| {
            s.tags
                .iter()
                .filter(|(k, _)| s.transitive_tag_keys.iter().any(|t| t.eq_ignore_ascii_case(k)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for (k, _) in &p.tags {
        if inherited_transitive.iter().any(|(ik, _)| ik.eq_ignore_ascii_case(k)) {
            return Err(ApiError::of(
                ErrorCode::InvalidParameterValue,
                format!("One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session: {k}"),
            ));
        }
    }
    for t in &p.transitive {
        if !p.tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(t)) {
            return Err(ApiError::of(
                ErrorCode::InvalidParameterValue,
                "The specified transitive tag key must be included in the requested tags.",
            ));
        }
    }
    let inherited_si = inherited.and_then(|s| s.source_identity.clone());
    if let (Some(old), Some(new)) = (&inherited_si, p.source_identity)
        && old != new
    {
        return Err(ApiError::access_denied("SourceIdentity cannot be changed once it has been set."));
    }
    let source_identity = inherited_si.or_else(|| p.source_identity.map(str::to_owned));

    // The trust evaluation's request context.
    let mut context: Context = base_context(&ctx.snap, caller, &ctx.facts, ctx.now);
    if mfa {
        context.insert("aws:MultiFactorAuthPresent", "true");
        context.insert("aws:MultiFactorAuthAge", "0");
    }
    context.insert("sts:RoleSessionName", p.session_name);
    if let Some(e) = p.external_id {
        context.insert("sts:ExternalId", e);
    }
    if let Some(s) = &source_identity {
        context.insert("sts:SourceIdentity", s.clone());
    }
    for (k, v) in &p.tags {
        context.insert(&format!("aws:RequestTag/{k}"), v.clone());
    }
    if !p.tags.is_empty() {
        context.insert_multi("aws:TagKeys", p.tags.iter().map(|(k, _)| k.clone()));
    }
    if !p.transitive.is_empty() {
        context.insert_multi("sts:TransitiveTagKeys", p.transitive.iter().cloned());
    }
    let trust = Some((role_arn.as_str(), entry.trust(), role_account_text.as_str()));
    // AWS's message for AssumeRole names no policy type; the encoded
    // message still says which side refused.
    let ask = |action: &str| {
        let req = Request { action, resource: &role_arn };
        decide(&ctx.snap, caller, req, trust, &context).map_err(|mut d| {
            d.message = not_authorized(ctx, action, &role_arn).message().to_owned();
            authz::refusal(ctx, req, d, &context)
        })
    };
    // The trust policy's decision on sts:AssumeRole is the call's proof;
    // tagging the session and setting its source identity must be allowed
    // as well.
    let proof = ask("sts:AssumeRole")?;
    if !p.tags.is_empty() {
        let _tag_session = ask("sts:TagSession")?;
    }
    if p.source_identity.is_some() {
        let _set_source_identity = ask("sts:SetSourceIdentity")?;
    }

    // Duration: the role's maximum, and one hour when chaining.
    let duration = p.duration.unwrap_or(3600);
    if duration > role.max_session_duration {
        return Err(ApiError::validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."));
    }
    if chained && duration > CHAINED_MAX {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }

    // Session policies: valid documents, and within the packed-size quota.
    let session_policy = super::session_policy(p.policy)?;
    let mut tags: Vec<(String, String)> = inherited_transitive.clone();
    tags.extend(p.tags.iter().cloned());
    let mut transitive: Vec<String> = inherited.map(|s| s.transitive_tag_keys.clone()).unwrap_or_default();
    transitive.extend(p.transitive.iter().cloned());
    let packed_percent = super::packed_size(session_policy.as_deref(), &p.policy_arns, &tags)?;

    // Mint.
    let expires_at = ctx.now + duration;
    let minted = super::mint(ctx, &role.account, |secret_access_key| SessionClaims {
        account: role_account_text.clone(),
        kind: SessionKind::AssumedRole {
            role_id: role.id.to_string(),
            role_name: role.name.clone(),
            role_path: role.path.clone(),
        },
        session_name: p.session_name.to_owned(),
        issued_at: ctx.now,
        expires_at,
        secret_access_key,
        mfa_authenticated: mfa,
        mfa_auth_time: mfa.then_some(ctx.now),
        source_identity: source_identity.clone(),
        session_policy,
        policy_arns: p.policy_arns.iter().map(|a| (*a).to_owned()).collect(),
        tags,
        transitive_tag_keys: transitive,
        chained,
        source_arn: caller.arn(),
        source_access_key_id: caller.access_key_id.clone(),
    })?;
    ctx.app.record_role_use(&role.id, ctx.now, &ctx.facts.region);
    let assumed_id = format!("{}:{}", role.id, p.session_name);
    let assumed_arn = format!("arn:aws:sts::{}:assumed-role/{}/{}", role.account, role.name, p.session_name);
    ctx.note(|n| {
        n.respond("assumedRoleUser", serde_json::json!({ "assumedRoleId": assumed_id, "arn": assumed_arn }));
        if let Some(si) = &source_identity {
            n.respond("sourceIdentity", serde_json::Value::String(si.clone()));
            n.extra_names.push(si.clone());
        }
        n.resources.push(latchkey_audit::Resource { account_id: role_account_text.clone(), kind: "AWS::IAM::Role", arn: role_arn.clone() });
        // The session name itself comes from the parameters, so that refused
        // attempts are found by it too.
        for name in [&assumed_id, &assumed_arn] {
            n.lookup_resources.push(latchkey_audit::LookupResource { kind: "AWS::STS::AssumedRole".to_owned(), name: name.clone() });
        }
        n.other_account = Some(role.account);
    });

    let mut x = Xml::new();
    x.opt("SourceIdentity", source_identity.as_deref())
        .open("AssumedRoleUser")
        .elem("AssumedRoleId", &assumed_id)
        .elem("Arn", &assumed_arn)
        .close("AssumedRoleUser");
    super::write_credentials(&mut x, &minted);
    if p.policy.is_some() || !p.policy_arns.is_empty() || !p.tags.is_empty() {
        x.elem("PackedPolicySize", &packed_percent.to_string());
    }
    Ok(Answer::new(proof, Some(x.into_string())))
}
