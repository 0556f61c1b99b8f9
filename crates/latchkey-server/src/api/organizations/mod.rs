//! Organizations (awsJson1_1): the management account's organization, its
//! member accounts, and service control policies.

use latchkey_model::{Account, AccountId, Attachment, IdPrefix, OwnerKind, Role, UniqueId};
use latchkey_policy::{Limit, ParseOptions, PolicyKind};
use latchkey_store::{CreateAccountRequest, Op, Scp};
use serde_json::{Value, json};

use crate::{ApiError, ErrorCode};
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Authorized, Request};
use crate::state::{FULL_AWS_ACCESS, Organization, Snapshot};

/// Every Organizations operation latchkey routes.
pub const ACTIONS: &[&str] = &[
    "CreateAccount",
    "DescribeCreateAccountStatus",
    "ListAccounts",
    "DescribeAccount",
    "DescribeOrganization",
    "CreatePolicy",
    "AttachPolicy",
    "DetachPolicy",
    "ListPolicies",
];

/// The role AWS creates in every new member account.
const DEFAULT_ROLE: &str = "OrganizationAccountAccessRole";

/// Runs `action`.
pub async fn dispatch(action: &str, ctx: &Ctx<'_>) -> Option<Output> {
    Some(match action {
        "CreateAccount" => create_account(ctx).await,
        "DescribeCreateAccountStatus" => describe_create_account_status(ctx),
        "ListAccounts" => list_accounts(ctx),
        "DescribeAccount" => describe_account(ctx),
        "DescribeOrganization" => describe_organization(ctx),
        "CreatePolicy" => create_policy(ctx).await,
        "AttachPolicy" => attach_policy(ctx, true).await,
        "DetachPolicy" => attach_policy(ctx, false).await,
        "ListPolicies" => list_policies(ctx),
        _ => return None,
    })
}

/// Organizations' answer to an SCP it will not store.
const SCP_MALFORMED: &str = "The provided policy document does not meet the requirements of the specified policy type.";

fn string<'v>(ctx: &'v Ctx<'_>, name: &str) -> Option<&'v str> {
    ctx.json.get(name).and_then(Value::as_str)
}

fn required<'v>(ctx: &'v Ctx<'_>, name: &str) -> Result<&'v str, ApiError> {
    string(ctx, name).ok_or_else(|| {
        ApiError::of(
            ErrorCode::InvalidInputException,
            format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", crate::protocol::query::lower_first(name)),
        )
    })
}

/// Member accounts may only describe their organization; everything else
/// belongs to the management account.
fn management_only(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.snap.org.management == Some(ctx.caller.account) {
        Ok(())
    } else {
        Err(ApiError::access_denied("You don't have permissions to access this resource."))
    }
}

fn org_arn(org: &Organization) -> String {
    format!("arn:aws:organizations::{}:organization/{}", org.management.map(|m| m.to_string()).unwrap_or_default(), org.id)
}

fn account_arn(org: &Organization, account: &AccountId) -> String {
    format!(
        "arn:aws:organizations::{}:account/{}/{account}",
        org.management.map(|m| m.to_string()).unwrap_or_default(),
        org.id
    )
}

fn account_json(org: &Organization, a: &Account) -> Value {
    json!({
        "Id": a.id.to_string(),
        "Arn": account_arn(org, &a.id),
        "Email": a.email,
        "Name": a.name,
        "Status": "ACTIVE",
        "JoinedMethod": if a.management { "INVITED" } else { "CREATED" },
        "JoinedTimestamp": a.created,
    })
}

fn status_json(r: &CreateAccountRequest) -> Value {
    json!({
        "Id": r.id,
        "AccountName": r.name,
        "State": "SUCCEEDED",
        "RequestedTimestamp": r.requested,
        "CompletedTimestamp": r.requested,
        "AccountId": r.account.to_string(),
    })
}

/// The JSON answer for the call `proof` allowed.
fn ok(proof: Authorized, v: &Value) -> Output {
    Ok(Answer::new(proof, Some(v.to_string())))
}

async fn create_account(ctx: &Ctx<'_>) -> Output {
    let email = required(ctx, "Email")?;
    let name = required(ctx, "AccountName")?;
    let role_name = string(ctx, "RoleName").unwrap_or(DEFAULT_ROLE);
    if !(6..=64).contains(&email.len()) || !email.contains('@') {
        return Err(ApiError::of(ErrorCode::InvalidInputException, "You specified an invalid value for Email."));
    }
    if name.is_empty() || name.chars().count() > 50 {
        return Err(ApiError::of(ErrorCode::InvalidInputException, "You specified an invalid value for AccountName."));
    }
    let mut v = crate::protocol::query::Violations::default();
    v.length("RoleName", role_name, 1, 64);
    v.pattern("RoleName", role_name, "[\\w+=,.@-]{1,64}", crate::protocol::query::is_name_char);
    v.finish().map_err(|e| ApiError::of(ErrorCode::InvalidInputException, e.message().to_owned()))?;
    let proof = authz::authorize(ctx, Request { action: "organizations:CreateAccount", resource: "*" })?;
    management_only(ctx)?;
    let mgmt = ctx.caller.account;
    let request = ctx
        .app
        .state
        .write(&proof, |snap| {
            let mut id = AccountId::random();
            while snap.accounts.contains_key(&id) {
                id = AccountId::random();
            }
            let account =
                Account { id, name: name.to_owned(), email: email.to_owned(), management: false, created: ctx.now };
            let trust = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{mgmt}:root"}},"Action":"sts:AssumeRole"}}]}}"#
            );
            let role = Role {
                id: UniqueId::generate(IdPrefix::Role, &id),
                account: id,
                name: role_name.to_owned(),
                path: "/".to_owned(),
                trust_policy: trust,
                // It names an account, no user or role.
                trust_principals: Some(Vec::new().into()),
                description: None,
                max_session_duration: 3600,
                created: ctx.now,
                tags: Vec::new(),
                permissions_boundary: None,
                last_used: None,
            };
            let mut suffix = [0u8; 8];
            latchkey_model::random_bytes(&mut suffix);
            let request = CreateAccountRequest {
                id: format!("car-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                account: id,
                name: name.to_owned(),
                requested: ctx.now,
            };
            let ops = vec![
                Op::InsertAccount(account),
                Op::InsertRole(role.clone()),
                Op::Attach(Attachment {
                    policy_arn: "arn:aws:iam::aws:policy/AdministratorAccess".to_owned(),
                    owner_kind: OwnerKind::Role,
                    owner: role.id,
                }),
                Op::AttachScp { policy: FULL_AWS_ACCESS.to_owned(), target: id.to_string() },
                Op::InsertCreateAccountRequest(request.clone()),
            ];
            Ok((ops, request))
        })
        .await?;
    ok(proof, &json!({ "CreateAccountStatus": status_json(&request) }))
}

fn describe_create_account_status(ctx: &Ctx<'_>) -> Output {
    let id = required(ctx, "CreateAccountRequestId")?;
    let proof = authz::authorize(ctx, Request { action: "organizations:DescribeCreateAccountStatus", resource: "*" })?;
    management_only(ctx)?;
    let r = ctx
        .snap
        .org
        .requests
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| {
            ApiError::of(
                ErrorCode::CreateAccountStatusNotFoundException,
                "We can't find an create account request with the CreateAccountRequestId that you specified.",
            )
        })?;
    ok(proof, &json!({ "CreateAccountStatus": status_json(r) }))
}

fn all_accounts(snap: &Snapshot) -> Vec<&Account> {
    let mut v: Vec<&Account> = snap.accounts.values().filter_map(|a| a.account.as_ref()).collect();
    v.sort_by_key(|a| (!a.management, a.created, a.id));
    v
}

fn list_accounts(ctx: &Ctx<'_>) -> Output {
    let proof = authz::authorize(ctx, Request { action: "organizations:ListAccounts", resource: "*" })?;
    management_only(ctx)?;
    let max = ctx.json.get("MaxResults").and_then(Value::as_u64).unwrap_or(20).clamp(1, 20);
    let start = match string(ctx, "NextToken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| ApiError::of(ErrorCode::InvalidInputException, "You specified an invalid value for NextToken."))?,
    };
    let accounts = all_accounts(&ctx.snap);
    let page: Vec<Value> =
        accounts.iter().skip(start).take(usize::try_from(max).unwrap_or(20)).map(|a| account_json(&ctx.snap.org, a)).collect();
    let next = start + page.len();
    let out = if next < accounts.len() {
        json!({ "Accounts": page, "NextToken": next.to_string() })
    } else {
        json!({ "Accounts": page })
    };
    ok(proof, &out)
}

fn describe_account(ctx: &Ctx<'_>) -> Output {
    let id = required(ctx, "AccountId")?;
    let account_id: AccountId = id.parse().map_err(|_| ApiError::of(ErrorCode::InvalidInputException, "You specified an invalid value for AccountId."))?;
    let proof = authz::authorize(ctx, Request { action: "organizations:DescribeAccount", resource: &account_arn(&ctx.snap.org, &account_id) })?;
    management_only(ctx)?;
    let a = ctx
        .snap
        .account(&account_id)
        .and_then(|s| s.account.as_ref())
        .ok_or_else(|| ApiError::of(ErrorCode::AccountNotFoundException, "You specified an account that doesn't exist."))?;
    ok(proof, &json!({ "Account": account_json(&ctx.snap.org, a) }))
}

fn describe_organization(ctx: &Ctx<'_>) -> Output {
    let proof = authz::authorize(ctx, Request { action: "organizations:DescribeOrganization", resource: "*" })?;
    let org = &ctx.snap.org;
    let mgmt = org.management.and_then(|m| ctx.snap.account(&m)).and_then(|a| a.account.as_ref());
    ok(proof, &json!({ "Organization": {
        "Id": org.id,
        "Arn": org_arn(org),
        "FeatureSet": "ALL",
        "MasterAccountArn": mgmt.map(|m| account_arn(org, &m.id)),
        "MasterAccountId": mgmt.map(|m| m.id.to_string()),
        "MasterAccountEmail": mgmt.map(|m| m.email.clone()),
        "AvailablePolicyTypes": [{ "Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED" }],
    }}))
}

fn summary(org: &Organization, e: &crate::state::ScpEntry) -> Value {
    json!({
        "Id": e.scp.id,
        "Arn": org.policy_arn(&e.scp.id, e.aws_managed),
        "Name": e.scp.name,
        "Description": e.scp.description,
        "Type": "SERVICE_CONTROL_POLICY",
        "AwsManaged": e.aws_managed,
    })
}

async fn create_policy(ctx: &Ctx<'_>) -> Output {
    let content = required(ctx, "Content")?;
    let name = required(ctx, "Name")?;
    let description = string(ctx, "Description").unwrap_or_default();
    let kind = required(ctx, "Type")?;
    if kind != "SERVICE_CONTROL_POLICY" {
        return Err(ApiError::of(ErrorCode::PolicyTypeNotAvailableForOrganizationException, format!("latchkey supports SERVICE_CONTROL_POLICY only, not {kind}.")));
    }
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::of(ErrorCode::InvalidInputException, "You specified an invalid value for Name."));
    }
    let proof = authz::authorize(ctx, Request { action: "organizations:CreatePolicy", resource: "*" })?;
    management_only(ctx)?;
    // Every SCP must say "Version": "2012-10-17" (Organizations User Guide, SCP
    // syntax). Organizations words every grammar refusal the same way, without
    // IAM's detail (as AWS users report it for principals, conditions, versions).
    latchkey_policy::parse_with(content, PolicyKind::ServiceControl, ParseOptions::managed()).map_err(|e| {
        tracing::debug!(error = %e, "SCP refused");
        ApiError::of(ErrorCode::MalformedPolicyDocumentException, SCP_MALFORMED)
    })?;
    Limit::ServiceControlPolicy
        .check(latchkey_policy::policy_size(content))
        .map_err(|e| ApiError::of(ErrorCode::MalformedPolicyDocumentException, e.aws_message().to_owned()))?;
    let mut suffix = [0u8; 6];
    latchkey_model::random_bytes(&mut suffix);
    let scp = Scp {
        id: format!("p-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        name: name.to_owned(),
        description: description.to_owned(),
        content: content.to_owned(),
    };
    ctx.app
        .state
        .write(&proof, |snap| {
            if snap.org.scps.values().any(|e| e.scp.name == name) {
                return Err(ApiError::of(ErrorCode::DuplicatePolicyException, "A policy with the same name already exists."));
            }
            Ok((vec![Op::InsertScp(scp.clone())], ()))
        })
        .await?;
    let snap = ctx.app.state.snapshot();
    let e = snap.org.scps.get(&scp.id).ok_or_else(|| ApiError::internal("created SCP missing"))?;
    ok(proof, &json!({ "Policy": { "PolicySummary": summary(&snap.org, e), "Content": content } }))
}

async fn attach_policy(ctx: &Ctx<'_>, attach: bool) -> Output {
    let policy = required(ctx, "PolicyId")?;
    let target = required(ctx, "TargetId")?;
    let action = if attach { "organizations:AttachPolicy" } else { "organizations:DetachPolicy" };
    let proof = authz::authorize(ctx, Request { action, resource: "*" })?;
    management_only(ctx)?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let org = &snap.org;
            if !org.scps.contains_key(policy) {
                return Err(ApiError::of(ErrorCode::PolicyNotFoundException, "We can't find a policy with the PolicyId that you specified."));
            }
            let is_account = target.parse::<AccountId>().ok().is_some_and(|a| snap.accounts.contains_key(&a));
            if target != org.root_id && !is_account {
                return Err(ApiError::of(ErrorCode::TargetNotFoundException, "We can't find a root, OU, account, or policy with the TargetId that you specified."));
            }
            if target == org.root_id {
                return Err(ApiError::of(ErrorCode::ConstraintViolationException, "latchkey keeps FullAWSAccess on the root; attach SCPs to accounts."));
            }
            let attached = org.attached.get(target).map_or(&[][..], Vec::as_slice);
            let present = attached.iter().any(|p| p == policy);
            if attach {
                if present {
                    return Err(ApiError::of(ErrorCode::DuplicatePolicyAttachmentException, "The selected policy is already attached to the specified target."));
                }
                Ok((vec![Op::AttachScp { policy: policy.to_owned(), target: target.to_owned() }], ()))
            } else {
                if !present {
                    return Err(ApiError::of(ErrorCode::PolicyNotAttachedException, "The policy isn't attached to the specified target in the specified root."));
                }
                if attached.len() == 1 {
                    return Err(ApiError::of(
                        ErrorCode::ConstraintViolationException,
                        "You attempted to detach a policy from an entity that would leave it with no SCP attached (MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED).",
                    ));
                }
                Ok((vec![Op::DetachScp { policy: policy.to_owned(), target: target.to_owned() }], ()))
            }
        })
        .await?;
    ok(proof, &json!({}))
}

fn list_policies(ctx: &Ctx<'_>) -> Output {
    let filter = required(ctx, "Filter")?;
    let proof = authz::authorize(ctx, Request { action: "organizations:ListPolicies", resource: "*" })?;
    management_only(ctx)?;
    let policies: Vec<Value> = if filter == "SERVICE_CONTROL_POLICY" {
        ctx.snap.org.scps.values().map(|e| summary(&ctx.snap.org, e)).collect()
    } else {
        Vec::new()
    };
    ok(proof, &json!({ "Policies": policies }))
}
