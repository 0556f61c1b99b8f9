//! IAM actions.

mod access_keys;
mod groups;
mod mfa;
mod owned;
mod policies;
mod providers;
mod roles;
mod simulate;
mod users;

use latchkey_model::{Arn, OwnerKind, Tag, UniqueId, User, format_iso8601};
use latchkey_policy::{Limit, ParseOptions, PolicyKind};

use crate::ApiError;
use crate::api::{Answer, Ctx, Output};
use crate::protocol::query::Violations;
use crate::protocol::xml::Xml;
use crate::state::{AccountState, Snapshot};

/// Every IAM action latchkey routes.
pub const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "UpdateUser",
    "TagUser",
    "UntagUser",
    "ListUserTags",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "DeleteGroup",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupsForUser",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "UpdateRole",
    "UpdateAssumeRolePolicy",
    "DeleteRole",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "AttachUserPolicy",
    "AttachGroupPolicy",
    "AttachRolePolicy",
    "DetachUserPolicy",
    "DetachGroupPolicy",
    "DetachRolePolicy",
    "ListAttachedUserPolicies",
    "ListAttachedGroupPolicies",
    "ListAttachedRolePolicies",
    "ListEntitiesForPolicy",
    "PutUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "GetUserPolicy",
    "GetGroupPolicy",
    "GetRolePolicy",
    "ListUserPolicies",
    "ListGroupPolicies",
    "ListRolePolicies",
    "DeleteUserPolicy",
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "PutUserPermissionsBoundary",
    "PutRolePermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "ListMFADevices",
    "ListVirtualMFADevices",
    "GetAccessKeyLastUsed",
    "GetAccountSummary",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "CreateOpenIDConnectProvider",
    "GetOpenIDConnectProvider",
    "ListOpenIDConnectProviders",
    "DeleteOpenIDConnectProvider",
    "AddClientIDToOpenIDConnectProvider",
    "UpdateOpenIDConnectProviderThumbprint",
    "CreateSAMLProvider",
    "GetSAMLProvider",
    "ListSAMLProviders",
    "DeleteSAMLProvider",
];

/// Runs `action`.
pub async fn dispatch(action: &str, ctx: &Ctx<'_>) -> Option<Output> {
    Some(match action {
        "CreateUser" => users::create(ctx).await,
        "GetUser" => users::get(ctx),
        "ListUsers" => users::list(ctx),
        "DeleteUser" => users::delete(ctx).await,
        "CreateAccessKey" => access_keys::create(ctx).await,
        "ListAccessKeys" => access_keys::list(ctx),
        "UpdateAccessKey" => access_keys::update(ctx).await,
        "DeleteAccessKey" => access_keys::delete(ctx).await,
        "UpdateUser" => users::update(ctx).await,
        "TagUser" => owned::tag(ctx, OwnerKind::User).await,
        "UntagUser" => owned::untag(ctx, OwnerKind::User).await,
        "ListUserTags" => owned::list_tags(ctx, OwnerKind::User),
        "CreateGroup" => groups::create(ctx).await,
        "GetGroup" => groups::get(ctx),
        "ListGroups" => groups::list(ctx),
        "DeleteGroup" => groups::delete(ctx).await,
        "AddUserToGroup" => groups::add_user(ctx).await,
        "RemoveUserFromGroup" => groups::remove_user(ctx).await,
        "ListGroupsForUser" => groups::list_for_user(ctx),
        "CreateRole" => roles::create(ctx).await,
        "GetRole" => roles::get(ctx),
        "ListRoles" => roles::list(ctx),
        "UpdateRole" => roles::update(ctx).await,
        "UpdateAssumeRolePolicy" => roles::update_trust(ctx).await,
        "DeleteRole" => roles::delete(ctx).await,
        "TagRole" => owned::tag(ctx, OwnerKind::Role).await,
        "UntagRole" => owned::untag(ctx, OwnerKind::Role).await,
        "ListRoleTags" => owned::list_tags(ctx, OwnerKind::Role),
        "CreatePolicy" => policies::create(ctx).await,
        "GetPolicy" => policies::get(ctx),
        "ListPolicies" => policies::list(ctx),
        "DeletePolicy" => policies::delete(ctx).await,
        "CreatePolicyVersion" => policies::create_version(ctx).await,
        "GetPolicyVersion" => policies::get_version(ctx),
        "ListPolicyVersions" => policies::list_versions(ctx),
        "SetDefaultPolicyVersion" => policies::set_default(ctx).await,
        "DeletePolicyVersion" => policies::delete_version(ctx).await,
        "AttachUserPolicy" => owned::attach(ctx, OwnerKind::User, true).await,
        "AttachGroupPolicy" => owned::attach(ctx, OwnerKind::Group, true).await,
        "AttachRolePolicy" => owned::attach(ctx, OwnerKind::Role, true).await,
        "DetachUserPolicy" => owned::attach(ctx, OwnerKind::User, false).await,
        "DetachGroupPolicy" => owned::attach(ctx, OwnerKind::Group, false).await,
        "DetachRolePolicy" => owned::attach(ctx, OwnerKind::Role, false).await,
        "ListAttachedUserPolicies" => owned::list_attached(ctx, OwnerKind::User),
        "ListAttachedGroupPolicies" => owned::list_attached(ctx, OwnerKind::Group),
        "ListAttachedRolePolicies" => owned::list_attached(ctx, OwnerKind::Role),
        "ListEntitiesForPolicy" => policies::list_entities(ctx),
        "PutUserPolicy" => owned::put_inline(ctx, OwnerKind::User).await,
        "PutGroupPolicy" => owned::put_inline(ctx, OwnerKind::Group).await,
        "PutRolePolicy" => owned::put_inline(ctx, OwnerKind::Role).await,
        "GetUserPolicy" => owned::get_inline(ctx, OwnerKind::User),
        "GetGroupPolicy" => owned::get_inline(ctx, OwnerKind::Group),
        "GetRolePolicy" => owned::get_inline(ctx, OwnerKind::Role),
        "ListUserPolicies" => owned::list_inline(ctx, OwnerKind::User),
        "ListGroupPolicies" => owned::list_inline(ctx, OwnerKind::Group),
        "ListRolePolicies" => owned::list_inline(ctx, OwnerKind::Role),
        "DeleteUserPolicy" => owned::delete_inline(ctx, OwnerKind::User).await,
        "DeleteGroupPolicy" => owned::delete_inline(ctx, OwnerKind::Group).await,
        "DeleteRolePolicy" => owned::delete_inline(ctx, OwnerKind::Role).await,
        "PutUserPermissionsBoundary" => owned::put_boundary(ctx, OwnerKind::User).await,
        "PutRolePermissionsBoundary" => owned::put_boundary(ctx, OwnerKind::Role).await,
        "DeleteUserPermissionsBoundary" => owned::delete_boundary(ctx, OwnerKind::User).await,
        "DeleteRolePermissionsBoundary" => owned::delete_boundary(ctx, OwnerKind::Role).await,
        "CreateVirtualMFADevice" => mfa::create_virtual(ctx).await,
        "EnableMFADevice" => mfa::enable(ctx).await,
        "DeactivateMFADevice" => mfa::deactivate(ctx).await,
        "DeleteVirtualMFADevice" => mfa::delete_virtual(ctx).await,
        "ListMFADevices" => mfa::list(ctx),
        "ListVirtualMFADevices" => mfa::list_virtual(ctx),
        "GetAccessKeyLastUsed" => access_keys::last_used(ctx),
        "GetAccountSummary" => account_summary(ctx),
        "SimulatePrincipalPolicy" => simulate::principal_policy(ctx),
        "SimulateCustomPolicy" => simulate::custom_policy(ctx),
        "CreateOpenIDConnectProvider" => providers::create_oidc(ctx).await,
        "GetOpenIDConnectProvider" => providers::get_oidc(ctx),
        "ListOpenIDConnectProviders" => providers::list(ctx, latchkey_model::ProviderKind::Oidc),
        "DeleteOpenIDConnectProvider" => providers::delete(ctx, latchkey_model::ProviderKind::Oidc).await,
        "AddClientIDToOpenIDConnectProvider" => providers::add_client_id(ctx).await,
        "UpdateOpenIDConnectProviderThumbprint" => providers::update_thumbprints(ctx).await,
        "CreateSAMLProvider" => providers::create_saml(ctx).await,
        "GetSAMLProvider" => providers::get_saml(ctx),
        "ListSAMLProviders" => providers::list(ctx, latchkey_model::ProviderKind::Saml),
        "DeleteSAMLProvider" => providers::delete(ctx, latchkey_model::ProviderKind::Saml).await,
        _ => return None,
    })
}

/// GetAccountSummary: the account's entity counts and IAM's quotas.
fn account_summary(ctx: &Ctx<'_>) -> Output {
    let proof = crate::authz::authorize(ctx, crate::authz::Request { action: "iam:GetAccountSummary", resource: "*" })?;
    let acct = account(ctx)?;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let versions_in_use: usize = acct.policies.values().map(|p| p.policy.versions.len()).sum();
    let mfa_in_use = acct.mfa.values().filter(|e| e.device.assigned.is_some()).count();
    let root_keys = !acct.keys_of(None).is_empty();
    let entries: [(&str, i64); 31] = [
        ("Users", count(acct.users.len())),
        ("UsersQuota", 5000),
        ("Groups", count(acct.groups.len())),
        ("GroupsQuota", 300),
        ("Roles", count(acct.roles.len())),
        ("RolesQuota", 1000),
        ("Policies", count(acct.policies.len())),
        ("PoliciesQuota", 1500),
        ("PolicyVersionsInUse", count(versions_in_use)),
        ("PolicyVersionsInUseQuota", 10000),
        ("VersionsPerPolicyQuota", 5),
        ("PolicySizeQuota", 6144),
        ("UserPolicySizeQuota", 2048),
        ("GroupPolicySizeQuota", 5120),
        ("RolePolicySizeQuota", 10240),
        ("AssumeRolePolicySizeQuota", 2048),
        ("AccessKeysPerUserQuota", 2),
        ("GroupsPerUserQuota", 10),
        ("AttachedPoliciesPerUserQuota", 10),
        ("AttachedPoliciesPerGroupQuota", 10),
        ("AttachedPoliciesPerRoleQuota", 10),
        ("MFADevices", count(acct.mfa.len())),
        ("MFADevicesInUse", count(mfa_in_use)),
        ("AccountMFAEnabled", 0),
        ("AccountAccessKeysPresent", i64::from(root_keys)),
        ("AccountSigningCertificatesPresent", 0),
        ("SigningCertificatesPerUserQuota", 2),
        ("ServerCertificates", 0),
        ("ServerCertificatesQuota", 20),
        ("InstanceProfiles", 0),
        ("InstanceProfilesQuota", 1000),
    ];
    let mut x = Xml::new();
    x.open("SummaryMap");
    for (k, v) in entries {
        x.open("entry").elem("key", k).elem("value", &v.to_string()).close("entry");
    }
    x.close("SummaryMap");
    Ok(Answer::new(proof, Some(x.into_string())))
}

/// The caller's account state; always present for an authenticated caller.
fn account<'s>(ctx: &'s Ctx<'_>) -> Result<&'s AccountState, ApiError> {
    account_in(ctx, &ctx.snap)
}

/// The caller's account in another snapshot (the one a write decides against).
fn account_in<'s>(ctx: &Ctx<'_>, snap: &'s Snapshot) -> Result<&'s AccountState, ApiError> {
    snap.account(&ctx.caller.account).ok_or_else(|| ApiError::internal("caller's account missing from snapshot"))
}

/// Validates a user name parameter as IAM's model does.
fn check_user_name(v: &mut Violations, member: &str, name: &str) {
    check_owner_name(v, OwnerKind::User, member, name);
}

/// Validates the name of a user, role (1–64) or group (1–128) as IAM's model does.
fn check_owner_name(v: &mut Violations, kind: OwnerKind, member: &str, name: &str) {
    let max = if kind == OwnerKind::Group { 128 } else { 64 };
    v.length(member, name, 1, max);
    v.pattern(member, name, "[\\w+=,.@-]+", crate::protocol::query::is_name_char);
}

/// Role sessions have no user to default to.
fn needs_user_name() -> ApiError {
    ApiError::validation("Must specify userName when calling with non-User credentials")
}

fn no_such_user(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The user with name {name} cannot be found."))
}

/// `<User>…</User>` (or a list member) in AWS's element order.
fn write_user(x: &mut Xml, tag: &str, u: &User, with_tags: bool) {
    x.open(tag)
        .elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", u.id.as_str())
        .elem("Arn", &u.arn())
        .elem("CreateDate", &format_iso8601(u.created));
    write_boundary(x, u.permissions_boundary.as_deref());
    if with_tags && !u.tags.is_empty() {
        write_tags(x, "Tags", &u.tags);
    }
    x.close(tag);
}

fn write_boundary(x: &mut Xml, arn: Option<&str>) {
    if let Some(arn) = arn {
        x.open("PermissionsBoundary")
            .elem("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .elem("PermissionsBoundaryArn", arn)
            .close("PermissionsBoundary");
    }
}

fn write_tags(x: &mut Xml, tag: &str, tags: &[Tag]) {
    x.open(tag);
    for t in tags {
        x.open("member").elem("Key", &t.key).elem("Value", &t.value).close("member");
    }
    x.close(tag);
}

/// Policy documents travel URL-encoded in IAM's responses (RFC 3986, as AWS
/// writes them), and the SDKs decode them.
fn url_encode(doc: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(doc, SET).to_string()
}

/// Validates a document of `kind` and its size against `limit` (the size
/// other documents already use counts for aggregate limits). The limit names
/// where the document is stored, which decides the `Version` rule: a managed
/// policy version (CreatePolicy, CreatePolicyVersion) must say 2012-10-17 and
/// is told so before any other error; inline and trust policies may leave
/// `Version` out or give 2008-10-17, as the IAM User Guide's Version page allows.
fn check_document(text: &str, kind: PolicyKind, limit: Limit<'_>, already: usize) -> Result<(), ApiError> {
    let mut v = Violations::default();
    v.length("PolicyDocument", text, 1, 131_072);
    v.finish()?;
    let options = if limit == Limit::ManagedPolicy { ParseOptions::managed() } else { ParseOptions::default() };
    latchkey_policy::parse_with(text, kind, options).map_err(|e| ApiError::from(&e))?;
    limit.check(already + latchkey_policy::policy_size(text)).map_err(|e| ApiError::from(&e))
}

/// Validates an ARN parameter's length as IAM's model does.
fn check_arn(v: &mut Violations, member: &str, arn: &str) {
    v.length(member, arn, 20, 2048);
}

/// `/` or `/a/b/`, in AWS's validation wording.
fn check_path(v: &mut Violations, member: &str, path: &str) {
    if let Err(e) = latchkey_model::validate_path(path) {
        v.add(member, Some(path), &e.to_string());
    }
}

/// A description: at most 1000 characters.
fn check_description(v: &mut Violations, d: Option<&str>) {
    if let Some(d) = d {
        v.length("Description", d, 0, 1000);
    }
}

/// A user, group or role named in a request, resolved in the caller's account.
#[derive(Debug, Clone)]
struct Owner {
    kind: OwnerKind,
    id: UniqueId,
    name: String,
    arn: String,
    tags: Vec<Tag>,
}

fn owner_param(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::User => "UserName",
        OwnerKind::Group => "GroupName",
        OwnerKind::Role => "RoleName",
    }
}

/// "The user with name X cannot be found." and its group and role twins.
fn no_such_owner(kind: OwnerKind, name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The {} with name {name} cannot be found.", kind.as_str()))
}

/// Resolves `name` as an entity of `kind` in `acct`.
fn find_owner(acct: &AccountState, kind: OwnerKind, name: &str) -> Result<Owner, ApiError> {
    match kind {
        OwnerKind::User => acct.user(name).map(|u| Owner {
            kind,
            id: u.id.clone(),
            name: u.name.clone(),
            arn: u.arn(),
            tags: u.tags.clone(),
        }),
        OwnerKind::Group => acct.group(name).map(|g| Owner { kind, id: g.id.clone(), name: g.name.clone(), arn: g.arn(), tags: Vec::new() }),
        OwnerKind::Role => acct.role(name).map(|r| Owner {
            kind,
            id: r.role.id.clone(),
            name: r.role.name.clone(),
            arn: r.role.arn(),
            tags: r.role.tags.clone(),
        }),
    }
    .ok_or_else(|| no_such_owner(kind, name))
}

/// Authorises `action` on the user, group or role named in the request
/// (with `extra` condition keys), before revealing whether it exists — as
/// AWS does, an unauthorised caller learns nothing from NoSuchEntity.
/// Returns the entity with the proof.
fn authorize_owner(
    ctx: &Ctx<'_>,
    kind: OwnerKind,
    action: &str,
    extra: impl FnOnce(&mut latchkey_policy::Context),
) -> Result<(Owner, crate::authz::Authorized), ApiError> {
    let member = owner_param(kind);
    let name = ctx.params.required(member)?;
    let mut v = Violations::default();
    check_owner_name(&mut v, kind, member, name);
    v.finish()?;
    let found = find_owner(account(ctx)?, kind, name).ok();
    let arn = found.as_ref().map_or_else(|| Arn::iam(&ctx.caller.account, kind.as_str(), "/", name), |o| o.arn.clone());
    let tags = found.as_ref().map_or(&[][..], |o| o.tags.as_slice());
    let proof = crate::authz::authorize_with(ctx, crate::authz::Request { action, resource: &arn }, |c| {
        resource_tags(tags)(c);
        extra(c);
    })?;
    Ok((found.ok_or_else(|| no_such_owner(kind, name))?, proof))
}

/// The condition keys of a create call that tags the new entity and may
/// give it a boundary: `aws:RequestTag/…`, `aws:TagKeys`, `iam:PermissionsBoundary`.
fn create_context<'a>(tags: &'a [Tag], boundary: Option<&'a str>) -> impl FnOnce(&mut latchkey_policy::Context) + 'a {
    move |c| {
        for t in tags {
            c.insert(&format!("aws:RequestTag/{}", t.key), t.value.clone());
        }
        if !tags.is_empty() {
            c.insert_multi("aws:TagKeys", tags.iter().map(|t| t.key.clone()));
        }
        if let Some(b) = boundary {
            c.insert("iam:PermissionsBoundary", b);
        }
    }
}

/// `aws:ResourceTag/…` of a user or role, for authorisation.
fn resource_tags(tags: &[Tag]) -> impl FnOnce(&mut latchkey_policy::Context) + '_ {
    move |c| {
        for t in tags {
            c.insert(&format!("aws:ResourceTag/{}", t.key), t.value.clone());
        }
    }
}

/// The ARN of a user that may not exist yet (for authorisation of creates).
fn user_arn(ctx: &Ctx<'_>, path: &str, name: &str) -> String {
    Arn::iam(&ctx.caller.account, "user", path, name)
}

/// Marker/MaxItems paging over an ordered sequence. The marker is the
/// position of the next item, which stays meaningful for a listing that is
/// re-read from a newer snapshot.
struct Page {
    start: usize,
    max: usize,
}

impl Page {
    /// Writes the items of this page with `each`, then `IsTruncated`/`Marker`.
    fn write<T>(&self, x: &mut Xml, list_tag: &str, items: &[T], mut each: impl FnMut(&mut Xml, &T)) {
        x.open(list_tag);
        for item in items.iter().skip(self.start).take(self.max) {
            each(x, item);
        }
        x.close(list_tag);
        self.finish(x, items.len());
    }

    fn from_params(ctx: &Ctx<'_>) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let max = ctx.params.int("MaxItems")?.unwrap_or(100);
        v.range("MaxItems", max, 1, 1000);
        v.finish()?;
        let start = match ctx.params.get("Marker") {
            None => 0,
            Some(m) => m.parse::<usize>().map_err(|_| ApiError::invalid_input("Invalid Marker."))?,
        };
        Ok(Self { start, max: usize::try_from(max).unwrap_or(100) })
    }

    /// Writes `IsTruncated` and `Marker` after the listed items.
    fn finish(&self, x: &mut Xml, total: usize) {
        let next = self.start.saturating_add(self.max);
        x.bool("IsTruncated", next < total);
        if next < total {
            x.elem("Marker", &next.to_string());
        }
    }
}
