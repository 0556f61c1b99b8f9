"""IAM through boto3 and the aws CLI, every call authorised by the policy engine."""

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

ALLOW_LIST_USERS = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
})


def code(exc):
    return exc.value.response["Error"]["Code"]


def make_user(iam, server, name):
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("iam", k["AccessKeyId"], k["SecretAccessKey"])


def test_denied_then_allowed_by_attached_policy_then_denied_again(server):
    iam = server.client("iam")
    alice = make_user(iam, server, "alice")
    with pytest.raises(ClientError) as e:
        alice.list_users()
    assert code(e) == "AccessDenied"
    msg = e.value.response["Error"]["Message"]
    assert "is not authorized to perform: iam:ListUsers" in msg
    assert "because no identity-based policy allows the iam:ListUsers action" in msg

    arn = iam.create_policy(PolicyName="list-users", PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    assert [u["UserName"] for u in alice.list_users()["Users"]] == ["alice"]
    with pytest.raises(ClientError) as e:
        alice.create_user(UserName="mallory")
    assert code(e) == "AccessDenied"

    iam.detach_user_policy(UserName="alice", PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        alice.list_users()
    assert code(e) == "AccessDenied"


def test_group_policy_grants_and_explicit_deny_wins(server):
    iam = server.client("iam")
    bob = make_user(iam, server, "bob")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="bob")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert bob.get_user(UserName="bob")["User"]["UserName"] == "bob"
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="bob")["Groups"]] == ["readers"]

    iam.put_user_policy(UserName="bob", PolicyName="no-roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:List*", "Resource": "*"}],
    }))
    with pytest.raises(ClientError) as e:
        bob.list_roles()
    assert code(e) == "AccessDenied"
    assert "with an explicit deny in an identity-based policy" in e.value.response["Error"]["Message"]
    bob.get_user(UserName="bob")  # Get* is not denied

    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName="readers")
    assert code(e) == "DeleteConflict"


def test_boundary_limits(server):
    iam = server.client("iam")
    carol = make_user(iam, server, "carol")
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    carol.list_users()
    carol.list_roles()
    boundary = iam.create_policy(PolicyName="only-users", PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName="carol", PermissionsBoundary=boundary)
    carol.list_users()
    with pytest.raises(ClientError) as e:
        carol.list_roles()
    assert code(e) == "AccessDenied"
    assert "because no permissions boundary allows" in e.value.response["Error"]["Message"]
    assert iam.get_user(UserName="carol")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.delete_user_permissions_boundary(UserName="carol")
    carol.list_roles()


def test_conditions_and_variables_are_enforced(server):
    iam = server.client("iam")
    dave = make_user(iam, server, "dave")
    iam.put_user_policy(UserName="dave", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                       "Resource": "arn:aws:iam::*:user/${aws:username}"}],
    }))
    dave.get_user(UserName="dave")
    iam.create_user(UserName="erin")
    with pytest.raises(ClientError) as e:
        dave.get_user(UserName="erin")
    assert code(e) == "AccessDenied"


def test_roles_round_trip(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust),
                           MaxSessionDuration=7200, Tags=[{"Key": "team", "Value": "ci"}])["Role"]
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/ci/deployer"
    assert role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName="deployer")["Role"]
    assert got["AssumeRolePolicyDocument"] == trust  # botocore decodes the URL-encoded document
    assert got["MaxSessionDuration"] == 7200
    assert got["Tags"] == [{"Key": "team", "Value": "ci"}]

    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}))
    assert code(e) == "MalformedPolicyDocument"
    raw = server.client("iam", validate=False)
    with pytest.raises(ClientError) as e:
        raw.create_role(RoleName="bad", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=60)
    assert code(e) == "ValidationError"
    assert "maxSessionDuration" in e.value.response["Error"]["Message"]

    iam.update_role(RoleName="deployer", Description="deploys", MaxSessionDuration=3600)
    assert iam.get_role(RoleName="deployer")["Role"]["Description"] == "deploys"
    iam.tag_role(RoleName="deployer", Tags=[{"Key": "env", "Value": "prod"}])
    assert len(iam.list_role_tags(RoleName="deployer")["Tags"]) == 2
    iam.untag_role(RoleName="deployer", TagKeys=["team"])
    assert iam.list_role_tags(RoleName="deployer")["Tags"] == [{"Key": "env", "Value": "prod"}]

    iam.put_role_policy(RoleName="deployer", PolicyName="inline", PolicyDocument=ALLOW_LIST_USERS)
    assert iam.list_role_policies(RoleName="deployer")["PolicyNames"] == ["inline"]
    assert iam.get_role_policy(RoleName="deployer", PolicyName="inline")["PolicyDocument"] == json.loads(ALLOW_LIST_USERS)
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName="deployer")
    assert code(e) == "DeleteConflict"
    iam.delete_role_policy(RoleName="deployer", PolicyName="inline")
    iam.delete_role(RoleName="deployer")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="deployer")
    assert code(e) == "NoSuchEntity"


def test_managed_policy_versions(server):
    iam = server.client("iam")
    arn = iam.create_policy(PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName="P", PolicyDocument=ALLOW_LIST_USERS)
    assert code(e) == "EntityAlreadyExists"
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_LIST_USERS)
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_LIST_USERS)
    assert code(e) == "LimitExceeded"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v3")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert code(e) == "DeleteConflict"
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]
    assert doc == json.loads(ALLOW_LIST_USERS)
    iam.create_user(UserName="u")
    iam.attach_user_policy(UserName="u", PolicyArn=arn)
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in ents["PolicyUsers"]] == ["u"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert code(e) == "DeleteConflict"
    iam.detach_user_policy(UserName="u", PolicyArn=arn)
    for v in ("v1", "v2", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn=arn)
    assert code(e) == "NoSuchEntity"


def test_aws_managed_policies_are_listed_and_readable(server):
    iam = server.client("iam")
    names = {p["PolicyName"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    assert {"AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess", "ReadOnlyAccess", "PowerUserAccess"} <= names
    assert iam.list_policies(Scope="Local")["Policies"] == []
    doc = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess", VersionId="v1")
    assert doc["PolicyVersion"]["Document"]["Statement"][0]["Action"] == "*"


def test_malformed_policies_get_aws_messages(server):
    iam = server.client("iam")
    iam.create_user(UserName="m")
    cases = [
        ("{not json", "Syntax errors in policy."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}),
         "Policy document should not specify a principal."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
         "Policy statement must contain actions."),
    ]
    for doc, message in cases:
        with pytest.raises(ClientError) as e:
            iam.put_user_policy(UserName="m", PolicyName="x", PolicyDocument=doc)
        assert code(e) == "MalformedPolicyDocument"
        assert e.value.response["Error"]["Message"] == message
    assert iam.list_user_policies(UserName="m")["PolicyNames"] == []
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::*:user/{'x' * 2100}"}]})
    with pytest.raises(ClientError) as e:
        iam.put_user_policy(UserName="m", PolicyName="big", PolicyDocument=big)
    assert code(e) == "LimitExceeded"


def test_attachment_quota(server):
    iam = server.client("iam")
    iam.create_user(UserName="q")
    arns = [iam.create_policy(PolicyName=f"p{i}", PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"] for i in range(11)]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName="q", PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.attach_user_policy(UserName="q", PolicyArn=arns[10])
    assert code(e) == "LimitExceeded"
    assert len(iam.list_attached_user_policies(UserName="q")["AttachedPolicies"]) == 10


def test_aws_cli_drives_groups_and_policies(server):
    server.aws("iam", "create-group", "--group-name", "ops")
    server.aws("iam", "create-user", "--user-name", "olga")
    server.aws("iam", "add-user-to-group", "--group-name", "ops", "--user-name", "olga")
    group = json.loads(server.aws("iam", "get-group", "--group-name", "ops").stdout)
    assert [u["UserName"] for u in group["Users"]] == ["olga"]
    out = server.aws("iam", "put-group-policy", "--group-name", "ops", "--policy-name", "p",
                     "--policy-document", ALLOW_LIST_USERS)
    doc = json.loads(server.aws("iam", "get-group-policy", "--group-name", "ops", "--policy-name", "p").stdout)
    assert doc["PolicyDocument"] == json.loads(ALLOW_LIST_USERS)
    server.aws("iam", "remove-user-from-group", "--group-name", "ops", "--user-name", "olga")
    server.aws("iam", "delete-group-policy", "--group-name", "ops", "--policy-name", "p")
    server.aws("iam", "delete-group", "--group-name", "ops")


def test_denials_carry_an_encoded_message_that_decodes(server):
    iam = server.client("iam")
    eve = make_user(iam, server, "eve")
    iam.put_user_policy(UserName="eve", PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}]}))
    with pytest.raises(ClientError) as e:
        eve.list_roles()
    msg = e.value.response["Error"]["Message"]
    assert "with an explicit deny in an identity-based policy" in msg
    encoded = msg.split("Encoded authorization failure message: ", 1)[1]

    with pytest.raises(ClientError) as e:  # decoding needs sts:DecodeAuthorizationMessage
        server.client("sts", *eve._request_signer._credentials.get_frozen_credentials()[:2]).decode_authorization_message(
            EncodedMessage=encoded)
    assert code(e) == "AccessDenied"

    decoded = json.loads(server.client("sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is True
    assert decoded["context"]["action"] == "iam:ListRoles"
    assert decoded["context"]["principal"]["arn"].endswith(":user/eve")
    statement = decoded["matchedStatements"]["items"][0]
    assert statement["statementId"] == "NoRoles" and statement["policyId"] == "user/eve/deny"
    keys = {c["key"] for c in decoded["context"]["conditions"]["items"]}
    assert "aws:username" in keys

    with pytest.raises(ClientError) as e:
        server.client("sts").decode_authorization_message(EncodedMessage=encoded[:-4] + "AAAA")
    assert code(e) == "InvalidAuthorizationMessageException"

    from conftest import run
    explained = run("explain", "--data-dir", str(server.data_dir), msg).stdout
    assert "with an explicit deny in an identity-based policy" in explained
    assert "statement `NoRoles` of user/eve/deny" in explained
    assert "iam:ListRoles" in explained
    bad = run("explain", "--data-dir", str(server.data_dir), "bm90LWEtbWVzc2FnZQ", check=False)
    assert bad.returncode != 0 and "not an authorization message" in bad.stderr


def test_encoded_messages_can_be_turned_off(tmp_path):
    from conftest import Server, clean_env
    s = Server(tmp_path / "d", env=clean_env(LATCHKEY_ENCODE_AUTHORIZATION_MESSAGES="false"))
    try:
        iam = s.client("iam")
        quiet = make_user(iam, s, "quiet")
        with pytest.raises(ClientError) as e:
            quiet.list_roles()
        assert "Encoded authorization failure message" not in e.value.response["Error"]["Message"]
    finally:
        s.stop()


def test_access_key_last_used_survives_a_restart(tmp_path):
    from conftest import Server
    s = Server(tmp_path / "d")
    iam = s.client("iam")
    iam.create_user(UserName="lu")
    k = iam.create_access_key(UserName="lu")["AccessKey"]
    never = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
    assert never["UserName"] == "lu"
    assert never["AccessKeyLastUsed"]["ServiceName"] == "N/A" and "LastUsedDate" not in never["AccessKeyLastUsed"]
    s.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
    used = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])["AccessKeyLastUsed"]
    assert used["ServiceName"] == "sts" and used["Region"] == "us-east-1" and "LastUsedDate" in used
    assert s.stop() == 0
    again = Server(tmp_path / "d")
    try:
        kept = again.client("iam").get_access_key_last_used(AccessKeyId=k["AccessKeyId"])["AccessKeyLastUsed"]
        assert kept["ServiceName"] == "sts"
    finally:
        again.stop()


def test_account_summary(server):
    iam = server.client("iam")
    iam.create_user(UserName="a")
    iam.create_group(GroupName="g")
    iam.create_policy(PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] == 1 and summary["Groups"] == 1 and summary["Policies"] == 1
    assert summary["AccessKeysPerUserQuota"] == 2 and summary["AccountAccessKeysPresent"] == 1


def test_simulator_agrees_with_enforcement(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    sim_user = make_user(iam, server, "sim")
    iam.put_user_policy(UserName="sim", PolicyName="mixed", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Sid": "Lists", "Effect": "Allow", "Action": ["iam:List*", "iam:GetUser"], "Resource": "*"},
            {"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}]}))
    iam.create_group(GroupName="ops")
    iam.add_user_to_group(GroupName="ops", UserName="sim")
    iam.attach_group_policy(GroupName="ops", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    calls = {
        "iam:ListUsers": lambda c: c.list_users(),
        "iam:ListRoles": lambda c: c.list_roles(),
        "iam:ListGroups": lambda c: c.list_groups(),
        "iam:GetUser": lambda c: c.get_user(UserName="sim"),
        "iam:CreateUser": lambda c: c.create_user(UserName="made-by-sim"),
        "iam:CreateGroup": lambda c: c.create_group(GroupName="made-by-sim"),
    }
    out = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/sim", ActionNames=list(calls))
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in out["EvaluationResults"]}
    assert decisions["iam:ListRoles"] == "explicitDeny"
    assert decisions["iam:ListUsers"] == "allowed"
    assert decisions["iam:CreateUser"] == "implicitDeny"
    for action, call in calls.items():
        try:
            call(sim_user)
            actual = "allowed"
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied"
            actual = "denied"
        expected = "allowed" if decisions[action] == "allowed" else "denied"
        assert actual == expected, action
    matched = next(r for r in out["EvaluationResults"] if r["EvalActionName"] == "iam:ListRoles")["MatchedStatements"]
    assert {"SourcePolicyId": "user/sim/mixed", "SourcePolicyType": "user"} in [
        {k: m[k] for k in ("SourcePolicyId", "SourcePolicyType")} for m in matched]

    custom = iam.simulate_custom_policy(
        PolicyInputList=[ALLOW_LIST_USERS], ActionNames=["iam:ListUsers", "iam:ListRoles"],
        ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["x"], "ContextKeyType": "string"}])
    assert [r["EvalDecision"] for r in custom["EvaluationResults"]] == ["allowed", "implicitDeny"]


SAML_METADATA = ('<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                 'entityID="https://idp.example.com/saml"><md:IDPSSODescriptor '
                 'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                 + '<!-- padding -->' * 60 + '</md:IDPSSODescriptor></md:EntityDescriptor>')


def test_identity_providers(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    arn = iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com"
    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url="https://token.actions.githubusercontent.com",
                                            ClientIDList=["x"], ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])
    assert code(e) == "EntityAlreadyExists"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="my-app")
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == "token.actions.githubusercontent.com"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "my-app"]
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [arn]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert code(e) == "NoSuchEntity"

    saml = iam.create_saml_provider(Name="corp-idp", SAMLMetadataDocument=SAML_METADATA)["SAMLProviderArn"]
    assert saml == f"arn:aws:iam::{acct}:saml-provider/corp-idp"
    assert iam.get_saml_provider(SAMLProviderArn=saml)["SAMLMetadataDocument"] == SAML_METADATA
    assert [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]] == [saml]
    iam.delete_saml_provider(SAMLProviderArn=saml)
    assert iam.list_saml_providers()["SAMLProviderList"] == []


def test_simulator_reports_missing_context_and_positions(server):
    iam = server.client("iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"}}}]},
        indent=2)
    out = iam.simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=["iam:ListUsers"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"},
                        {"ContextKeyName": "aws:SecureTransport", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}])
    r = out["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"
    m = r["MatchedStatements"][0]
    assert m["SourcePolicyId"] == "PolicyInputList.1" and m["StartPosition"]["Line"] == 4
    assert r["MissingContextValues"] == []
    assert r["ResourceSpecificResults"][0]["EvalResourceDecision"] == "allowed"
    bare = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["iam:ListUsers"])["EvaluationResults"][0]
    assert bare["EvalDecision"] == "implicitDeny"
    assert sorted(bare["MissingContextValues"]) == ["aws:SecureTransport", "aws:SourceIp"]


def test_long_group_names_work_everywhere(server):
    """GroupName may be 128 characters (user and role names 64); every group
    call must accept what CreateGroup accepts."""
    iam = server.client("iam")
    name = "g" * 128
    iam.create_group(GroupName=name)
    iam.put_group_policy(GroupName=name, PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)
    iam.attach_group_policy(GroupName=name, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert iam.list_group_policies(GroupName=name)["PolicyNames"] == ["p"]
    assert len(iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]) == 1
    raw = server.client("iam", validate=False)
    with pytest.raises(ClientError) as e:
        raw.create_group(GroupName="g" * 129)
    assert code(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        raw.put_user_policy(UserName="u" * 65, PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)
    assert code(e) == "ValidationError"


# Policy grammar where IAM's recorded answers are the reference: LocalStack's
# AWS-validated tests/aws/services/iam/test_iam_policies.py snapshot (recorded
# from CreatePolicy), moto's test_iam_policies.py, and AWS users' reports.

VERSION_MESSAGE = "Policy document must be version 2012-10-17 or greater."
BUCKET = "arn:aws:s3:::example_bucket"


def stmt(**kw):
    s = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET}
    s.update(kw)
    return {k: v for k, v in s.items() if v is not None}


def refused(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    assert code(e) == "MalformedPolicyDocument", e.value.response
    return e.value.response["Error"]["Message"]


def test_managed_policies_must_be_version_2012_10_17_before_anything_else(server):
    iam = server.client("iam")
    dup_sids = [dict(stmt(), Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}]
    for doc in [
        {"Statement": stmt()},
        {"Version": "2008-10-17", "Statement": stmt()},
        {"Statement": dup_sids},
        {"Statement": stmt(Condition={"DateGreaterThan": {"a": "sdfdsf"}})},
        {"Statement": stmt(Effect="denY")},
        {"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "invalid"}},
    ]:
        assert refused(iam.create_policy, PolicyName="p", PolicyDocument=json.dumps(doc)) == VERSION_MESSAGE, doc
    assert iam.list_policies(Scope="Local")["Policies"] == []

    arn = iam.create_policy(PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"]
    for doc in [{"Statement": stmt()}, {"Version": "2008-10-17", "Statement": stmt(Effect="allow")}]:
        msg = refused(iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=True)
        assert msg == VERSION_MESSAGE, doc
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v1"]


def test_inline_and_trust_policies_may_leave_version_out(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="u")
    iam.create_group(GroupName="g")
    trust = {"Statement": {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}}
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    iam.update_assume_role_policy(RoleName="r", PolicyDocument=json.dumps(dict(trust, Version="2008-10-17")))
    for doc in [{"Statement": stmt()}, {"Version": "2008-10-17", "Statement": stmt()}]:
        iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=json.dumps(doc))
        iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(doc))
        iam.put_group_policy(GroupName="g", PolicyName="p", PolicyDocument=json.dumps(doc))
    # Without the version rule, the next error in IAM's order is the one told.
    dup_sids = [dict(stmt(), Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}]
    assert refused(iam.put_user_policy, UserName="u", PolicyName="q", PolicyDocument=json.dumps({"Statement": dup_sids})) \
        == "Statement IDs (SID) in a single policy must be unique."
    assert refused(iam.put_role_policy, RoleName="r", PolicyName="q",
                   PolicyDocument=json.dumps({"Statement": stmt(Effect="denY")})) == "The policy failed legacy parsing"


def test_policy_grammar_order_and_messages(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="u")
    trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}}
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))

    no_resource = json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "invalid"}})
    for call, kw in [(iam.create_policy, {"PolicyName": "p"}),
                     (iam.put_user_policy, {"UserName": "u", "PolicyName": "p"}),
                     (iam.put_role_policy, {"RoleName": "r", "PolicyName": "p"})]:
        assert refused(call, PolicyDocument=no_resource, **kw) == "Policy statement must contain resources."

    bad_path = json.dumps({"Version": "2012-10-17", "Statement": stmt(Resource="arn:aws:iam:::example_bucket")})
    assert refused(iam.put_role_policy, RoleName="r", PolicyName="p", PolicyDocument=bad_path) == (
        'IAM resource path must either be "*", root, or start with user/, federated-user/, role/, group/, '
        "instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, "
        "report/, access-report/.")
    root = json.dumps({"Version": "2012-10-17", "Statement": stmt(
        Action="iam:GetAccountSummary", Resource=f"arn:aws:iam::{acct}:root")})
    iam.create_policy(PolicyName="root", PolicyDocument=root)
    iam.put_role_policy(RoleName="r", PolicyName="root", PolicyDocument=root)

    for i, value in enumerate(["2019-07-01", "2019-07-01T00:00:00+02:00", "2016-12-13t2:00:00.593194+23", "01T",
                               "2019-182", "2019-W27-1", "1561939200"]):
        doc = json.dumps({"Version": "2012-10-17", "Statement": stmt(Condition={"DateGreaterThan": {"aws:CurrentTime": value}})})
        iam.create_policy(PolicyName=f"date{i}", PolicyDocument=doc)
        iam.put_user_policy(UserName="u", PolicyName=f"date{i}", PolicyDocument=doc)
    for value in ["2016-12-13t2:00:00.1999999999+10:59", "2016-12-13t2:00:00.593194+1", "2019-07-01Z", "yesterday"]:
        doc = json.dumps({"Version": "2012-10-17", "Statement": stmt(Condition={"DateLessThan": {"aws:CurrentTime": value}})})
        assert refused(iam.create_policy, PolicyName="bad-date", PolicyDocument=doc) == "The policy failed legacy parsing"


def test_trust_policies_that_are_not_json(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    broken = '{"Version": "2012-10-17", "Statement": [{"Action": "sts:AssumeRole", "Principal": "*", "Effect": "Allow",}]}'
    assert refused(iam.create_role, RoleName="r", AssumeRolePolicyDocument=broken) == "This policy contains invalid Json"
    trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}}
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    assert refused(iam.update_assume_role_policy, RoleName="r", PolicyDocument="{nope") == "This policy contains invalid Json"
    with_resource = dict(trust, Statement=dict(trust["Statement"], Resource="*"))
    assert refused(iam.update_assume_role_policy, RoleName="r", PolicyDocument=json.dumps(with_resource)) \
        == "Has prohibited field Resource"
    # Identity policies keep IAM's grammar message.
    iam.create_user(UserName="u")
    assert refused(iam.put_user_policy, UserName="u", PolicyName="p", PolicyDocument="{nope") == "Syntax errors in policy."


def test_date_conditions_in_other_iso_forms_decide_requests(server):
    iam = server.client("iam")
    alice = make_user(iam, server, "alice")

    def list_users_when(op, value):
        iam.put_user_policy(UserName="alice", PolicyName="when", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*", "Condition": {op: {"aws:CurrentTime": value}}}]}))
        try:
            alice.list_users()
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied"
            return False

    assert list_users_when("DateGreaterThan", "2019-07-01")
    assert not list_users_when("DateLessThan", "2019-07-01")
    assert list_users_when("DateGreaterThan", "2019-182")
    assert list_users_when("DateGreaterThan", "2019-W27-1T10:00+02")
    assert not list_users_when("DateGreaterThan", "9999-12-31T23:59:59.999+14:00")


def test_organizations_refuses_scps_with_one_message(server):
    """Organizations refuses every SCP it will not store with one message (as AWS
    users report it: principals, conditions, versions), and every SCP must say
    Version 2012-10-17 (Organizations User Guide, SCP syntax)."""
    orgs = server.client("organizations")
    statement = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    for content in [
        "{nope",
        json.dumps({"Statement": [statement]}),
        json.dumps({"Version": "2008-10-17", "Statement": [statement]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "invalid"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [dict(statement, Principal="*")]}),
    ]:
        with pytest.raises(ClientError) as e:
            orgs.create_policy(Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content=content)
        assert code(e) == "MalformedPolicyDocumentException"
        assert e.value.response["Error"]["Message"] == \
            "The provided policy document does not meet the requirements of the specified policy type.", content
    orgs.create_policy(Name="good", Description="", Type="SERVICE_CONTROL_POLICY",
                       Content=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
