"""Organizations through boto3 and the aws CLI: member accounts, the
OrganizationAccountAccessRole, cross-account AssumeRole, and SCPs."""

import json

import pytest
from botocore.exceptions import ClientError


def code(exc):
    return exc.value.response["Error"]["Code"]


def allow(*actions, resource="*"):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


@pytest.fixture
def org(server):
    orgs = server.client("organizations")
    mgmt = server.client("sts").get_caller_identity()["Account"]
    status = orgs.create_account(Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    member = status["AccountId"]
    iam = server.client("iam")
    iam.create_user(UserName="admin")
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = lambda svc: server.client(svc, k["AccessKeyId"], k["SecretAccessKey"])  # noqa: E731
    return server, orgs, mgmt, member, iam, admin, status


def into_member(server, admin, member, service):
    out = admin("sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
                                   RoleSessionName="admin-into-dev")
    c = out["Credentials"]
    return server.client(service, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), out


def test_accounts(org):
    server, orgs, mgmt, member, iam, admin, status = org
    d = orgs.describe_organization()["Organization"]
    assert d["MasterAccountId"] == mgmt and d["FeatureSet"] == "ALL"
    assert d["Id"].startswith("o-")
    again = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert again["AccountId"] == member
    ids = [a["Id"] for a in orgs.list_accounts()["Accounts"]]
    assert ids == [mgmt, member]
    acct = orgs.describe_account(AccountId=member)["Account"]
    assert acct["Name"] == "dev" and acct["Email"] == "dev@example.com" and acct["Status"] == "ACTIVE"
    with pytest.raises(ClientError) as e:
        orgs.describe_account(AccountId="000000000001")
    assert code(e) == "AccountNotFoundException"
    listed = json.loads(server.aws("organizations", "list-accounts").stdout)["Accounts"]
    assert len(listed) == 2


def test_cross_account_needs_both_sides(org):
    server, orgs, mgmt, member, iam, admin, status = org
    role_arn = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    with pytest.raises(ClientError) as e:  # the trust policy names the account: the caller's policy must allow too
        admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="nope")
    assert code(e) == "AccessDenied"
    iam.put_user_policy(UserName="admin", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", resource=role_arn))
    member_iam, out = into_member(server, admin, member, "iam")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/admin-into-dev"
    member_iam.create_user(UserName="dev-user")  # AdministratorAccess in the member account
    assert [u["UserName"] for u in member_iam.list_users()["Users"]] == ["dev-user"]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["admin"]  # accounts stay apart
    with pytest.raises(ClientError) as e:  # members do not manage the organization
        into_member(server, admin, member, "organizations")[0].list_accounts()
    assert code(e) == "AccessDeniedException"


def test_scp_limits_member_accounts_not_the_management_account(org):
    server, orgs, mgmt, member, iam, admin, status = org
    iam.put_user_policy(UserName="admin", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
    scp = orgs.create_policy(
        Name="no-users", Description="", Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}))["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=scp["Id"], TargetId=member)
    member_iam, _ = into_member(server, admin, member, "iam")
    with pytest.raises(ClientError) as e:
        member_iam.create_user(UserName="blocked")
    assert code(e) == "AccessDenied"
    assert "with an explicit deny in a service control policy" in e.value.response["Error"]["Message"]
    member_iam.list_users()
    iam.create_user(UserName="mgmt-user")  # SCPs never apply to the management account

    with pytest.raises(ClientError) as e:
        orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
        orgs.detach_policy(PolicyId=scp["Id"], TargetId=member)
    assert code(e) == "ConstraintViolationException"
    names = {p["Name"] for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    assert names == {"FullAWSAccess", "no-users"}


def test_the_management_account_has_full_aws_access_and_scps_that_detach(org):
    """AWS attaches FullAWSAccess to every account, the management account
    included, so an SCP attached there can be detached again; SCPs still
    never restrict the management account."""
    server, orgs, mgmt, member, iam, admin, status = org
    with pytest.raises(ClientError) as e:
        orgs.attach_policy(PolicyId="p-FullAWSAccess", TargetId=mgmt)
    assert code(e) == "DuplicatePolicyAttachmentException"

    deny = orgs.create_policy(
        Name="deny-users", Description="", Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}))["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    names = {p["Name"] for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    assert names == {"FullAWSAccess", "deny-users"}
    with pytest.raises(ClientError) as e:
        orgs.attach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    assert code(e) == "DuplicatePolicyAttachmentException"
    orgs.detach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    with pytest.raises(ClientError) as e:
        orgs.detach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    assert code(e) == "PolicyNotAttachedException"

    # FullAWSAccess is now the management account's last SCP.
    with pytest.raises(ClientError) as e:
        orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=mgmt)
    assert code(e) == "ConstraintViolationException"
    assert "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED" in e.value.response["Error"]["Message"]

    # With only a Deny SCP left on it, the management account is unrestricted.
    orgs.attach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=mgmt)
    iam.create_user(UserName="still-allowed")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=allow("iam:*"))
    admin("iam").create_user(UserName="by-an-admin")
    with pytest.raises(ClientError) as e:
        orgs.detach_policy(PolicyId=deny["Id"], TargetId=mgmt)
    assert code(e) == "ConstraintViolationException"
    orgs.attach_policy(PolicyId="p-FullAWSAccess", TargetId=mgmt)
    orgs.detach_policy(PolicyId=deny["Id"], TargetId=mgmt)


def test_an_allow_list_scp_without_full_access(org):
    server, orgs, mgmt, member, iam, admin, status = org
    iam.put_user_policy(UserName="admin", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
    only_list = orgs.create_policy(Name="list-only", Description="", Type="SERVICE_CONTROL_POLICY",
                                   Content=allow("iam:List*"))["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=only_list["Id"], TargetId=member)
    orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    member_iam, _ = into_member(server, admin, member, "iam")
    member_iam.list_users()
    with pytest.raises(ClientError) as e:
        member_iam.create_user(UserName="x")
    assert code(e) == "AccessDenied"
    assert "because no service control policy allows" in e.value.response["Error"]["Message"]


def test_malformed_scp(org):
    server, orgs, *_ = org
    with pytest.raises(ClientError) as e:
        orgs.create_policy(Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content="{nope")
    assert code(e) == "MalformedPolicyDocumentException"
