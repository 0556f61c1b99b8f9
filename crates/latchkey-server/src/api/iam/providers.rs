//! OpenID Connect and SAML identity providers, which federation trusts.

use latchkey_model::{IdentityProvider, ProviderKind, format_iso8601};
use latchkey_store::Op;

use super::users::parse_tags;
use super::{account, account_in, check_arn, write_tags};
use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;

fn arn_param<'p>(ctx: &'p Ctx<'_>, member: &str) -> Result<&'p str, ApiError> {
    let arn = ctx.params.required(member)?;
    let mut v = Violations::default();
    check_arn(&mut v, member, arn);
    v.finish()?;
    Ok(arn)
}

fn find<'s>(ctx: &'s Ctx<'_>, arn: &str, kind: ProviderKind) -> Result<&'s IdentityProvider, ApiError> {
    find_in(account(ctx)?, arn, kind)
}

fn find_in<'s>(acct: &'s crate::state::AccountState, arn: &str, kind: ProviderKind) -> Result<&'s IdentityProvider, ApiError> {
    acct.providers.get(arn).map(AsRef::as_ref).filter(|p: &&IdentityProvider| p.kind == kind).ok_or_else(|| match kind {
        ProviderKind::Oidc => ApiError::no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}")),
        ProviderKind::Saml => ApiError::no_such_entity(format!("Manifest not found for arn {arn}")),
    })
}

fn check_thumbprints(v: &mut Violations, list: &[&str]) {
    if list.len() > 5 {
        v.add("ThumbprintList", None, "Member must have length less than or equal to 5");
    }
    for t in list {
        v.length("ThumbprintList.member", t, 40, 40);
        v.pattern("ThumbprintList.member", t, "[0-9a-fA-F]{40}", |c| c.is_ascii_hexdigit());
    }
}

fn check_client_ids(v: &mut Violations, list: &[&str]) {
    if list.len() > 100 {
        v.add("ClientIDList", None, "Member must have length less than or equal to 100");
    }
    for c in list {
        v.length("ClientIDList.member", c, 1, 255);
    }
}

pub(super) async fn create_oidc(ctx: &Ctx<'_>) -> Output {
    let url = ctx.params.required("Url")?;
    let client_ids = ctx.params.list("ClientIDList");
    let thumbprints = ctx.params.list("ThumbprintList");
    let mut v = Violations::default();
    v.length("Url", url, 1, 255);
    check_client_ids(&mut v, &client_ids);
    check_thumbprints(&mut v, &thumbprints);
    v.finish()?;
    let Some(host_path) = url.strip_prefix("https://").filter(|h| !h.is_empty() && !h.contains(['?', '#'])) else {
        return Err(ApiError::invalid_input(format!("Invalid URL: {url}. The URL must begin with https://")));
    };
    let host_path = host_path.trim_end_matches('/');
    let tags = parse_tags(ctx)?;
    let arn = format!("arn:aws:iam::{}:oidc-provider/{host_path}", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:CreateOpenIDConnectProvider", resource: &arn })?;
    let provider = IdentityProvider {
        arn: arn.clone(),
        account: ctx.caller.account,
        kind: ProviderKind::Oidc,
        name: url.to_owned(),
        client_ids: client_ids.iter().map(|c| (*c).to_owned()).collect(),
        thumbprints: thumbprints.iter().map(|t| t.to_lowercase()).collect(),
        metadata: String::new(),
        created: ctx.now,
        tags,
    };
    ctx.app
        .state
        .write(&proof, |snap| {
            if account_in(ctx, snap)?.providers.contains_key(&arn) {
                return Err(ApiError::entity_already_exists(format!("Provider with url {url} already exists.")));
            }
            Ok((vec![Op::InsertProvider(provider.clone())], ()))
        })
        .await?;
    let mut x = Xml::new();
    x.elem("OpenIDConnectProviderArn", &arn);
    if !provider.tags.is_empty() {
        write_tags(&mut x, "Tags", &provider.tags);
    }
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get_oidc(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx, "OpenIDConnectProviderArn")?;
    let proof = authz::authorize(ctx, Request { action: "iam:GetOpenIDConnectProvider", resource: arn })?;
    let p = find(ctx, arn, ProviderKind::Oidc)?;
    let mut x = Xml::new();
    // AWS answers with the URL without its scheme.
    x.elem("Url", p.name.trim_start_matches("https://"));
    x.open("ClientIDList");
    for c in &p.client_ids {
        x.elem("member", c);
    }
    x.close("ClientIDList").open("ThumbprintList");
    for t in &p.thumbprints {
        x.elem("member", t);
    }
    x.close("ThumbprintList").elem("CreateDate", &format_iso8601(p.created));
    if !p.tags.is_empty() {
        write_tags(&mut x, "Tags", &p.tags);
    }
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list(ctx: &Ctx<'_>, kind: ProviderKind) -> Output {
    let (action, list_tag) = match kind {
        ProviderKind::Oidc => ("iam:ListOpenIDConnectProviders", "OpenIDConnectProviderList"),
        ProviderKind::Saml => ("iam:ListSAMLProviders", "SAMLProviderList"),
    };
    let proof = authz::authorize(ctx, Request { action, resource: "*" })?;
    let providers: Vec<&IdentityProvider> = account(ctx)?.providers.values().map(AsRef::as_ref).filter(|p: &&IdentityProvider| p.kind == kind).collect();
    let mut x = Xml::new();
    x.open(list_tag);
    for p in providers {
        x.open("member").elem("Arn", &p.arn);
        if kind == ProviderKind::Saml {
            x.elem("ValidUntil", &format_iso8601(p.created + 100 * 365 * 86_400)).elem("CreateDate", &format_iso8601(p.created));
        }
        x.close("member");
    }
    x.close(list_tag);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) async fn delete(ctx: &Ctx<'_>, kind: ProviderKind) -> Output {
    let (member, action) = match kind {
        ProviderKind::Oidc => ("OpenIDConnectProviderArn", "iam:DeleteOpenIDConnectProvider"),
        ProviderKind::Saml => ("SAMLProviderArn", "iam:DeleteSAMLProvider"),
    };
    let arn = arn_param(ctx, member)?;
    let proof = authz::authorize(ctx, Request { action, resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            if !acct.providers.get(arn).is_some_and(|p| p.kind == kind) {
                return Err(ApiError::no_such_entity(format!("Provider {arn} does not exist.")));
            }
            Ok((vec![Op::DeleteProvider(arn.to_owned())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn add_client_id(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx, "OpenIDConnectProviderArn")?;
    let client = ctx.params.required("ClientID")?;
    let mut v = Violations::default();
    v.length("ClientID", client, 1, 255);
    v.finish()?;
    let proof = authz::authorize(ctx, Request { action: "iam:AddClientIDToOpenIDConnectProvider", resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let mut p = find_in(account_in(ctx, snap)?, arn, ProviderKind::Oidc)?.clone();
            if p.client_ids.iter().any(|c| c == client) {
                return Ok((Vec::new(), ()));
            }
            p.client_ids.push(client.to_owned());
            Ok((vec![Op::UpdateProvider(p)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn update_thumbprints(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx, "OpenIDConnectProviderArn")?;
    let thumbprints = ctx.params.list("ThumbprintList");
    let mut v = Violations::default();
    check_thumbprints(&mut v, &thumbprints);
    v.finish()?;
    let proof = authz::authorize(ctx, Request { action: "iam:UpdateOpenIDConnectProviderThumbprint", resource: arn })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let mut p = find_in(account_in(ctx, snap)?, arn, ProviderKind::Oidc)?.clone();
            p.thumbprints = thumbprints.iter().map(|t| t.to_lowercase()).collect();
            Ok((vec![Op::UpdateProvider(p)], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn create_saml(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("Name")?;
    let metadata = ctx.params.required("SAMLMetadataDocument")?;
    let mut v = Violations::default();
    v.length("Name", name, 1, 128);
    v.pattern("Name", name, "[\\w._-]+", |c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    v.length("SAMLMetadataDocument", metadata, 1000, 10_000_000);
    v.finish()?;
    if !metadata.contains("EntityDescriptor") {
        return Err(ApiError::invalid_input("Could not parse metadata"));
    }
    let tags = parse_tags(ctx)?;
    let arn = format!("arn:aws:iam::{}:saml-provider/{name}", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:CreateSAMLProvider", resource: &arn })?;
    let provider = IdentityProvider {
        arn: arn.clone(),
        account: ctx.caller.account,
        kind: ProviderKind::Saml,
        name: name.to_owned(),
        client_ids: Vec::new(),
        thumbprints: Vec::new(),
        metadata: metadata.to_owned(),
        created: ctx.now,
        tags,
    };
    ctx.app
        .state
        .write(&proof, |snap| {
            if account_in(ctx, snap)?.providers.contains_key(&arn) {
                return Err(ApiError::entity_already_exists(format!("SAMLProvider {name} already exists.")));
            }
            Ok((vec![Op::InsertProvider(provider.clone())], ()))
        })
        .await?;
    let mut x = Xml::new();
    x.elem("SAMLProviderArn", &arn);
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn get_saml(ctx: &Ctx<'_>) -> Output {
    let arn = arn_param(ctx, "SAMLProviderArn")?;
    let proof = authz::authorize(ctx, Request { action: "iam:GetSAMLProvider", resource: arn })?;
    let p = find(ctx, arn, ProviderKind::Saml)?;
    let mut x = Xml::new();
    x.elem("SAMLMetadataDocument", &p.metadata)
        .elem("CreateDate", &format_iso8601(p.created))
        .elem("ValidUntil", &format_iso8601(p.created + 100 * 365 * 86_400));
    if !p.tags.is_empty() {
        write_tags(&mut x, "Tags", &p.tags);
    }
    Ok(Answer::new(proof, Some(x.into_string())))
}
