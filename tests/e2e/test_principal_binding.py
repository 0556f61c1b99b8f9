"""Trust policies name users and roles by the unique ids they had when the
policy was saved [UG reference_policies_elements_principal: "that ARN
transforms to the role's unique principal ID when you save the policy"; the
same for IAM users]. A namesake created after a deletion is not trusted; a
renamed user still is; GetRole shows a deleted principal by its id."""

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trusting(*arns):
    return doc({"Effect": "Allow", "Principal": {"AWS": list(arns) if len(arns) > 1 else arns[0]},
                "Action": "sts:AssumeRole"})


ASSUME_ANY = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})


def make_user(iam, server, name):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=ASSUME_ANY)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]), k["AccessKeyId"]


def delete_user(iam, name, key_id):
    iam.delete_access_key(UserName=name, AccessKeyId=key_id)
    iam.delete_user_policy(UserName=name, PolicyName="assume")
    iam.delete_user(UserName=name)


def shown_principal(iam, role):
    text = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(text, str):
        text = json.loads(urllib.parse.unquote(text))
    st = text["Statement"]
    st = st[0] if isinstance(st, list) else st
    return st["Principal"]["AWS"]


def test_a_recreated_namesake_is_not_trusted_across_accounts(server):
    iam = server.client("iam")
    a = server.client("sts").get_caller_identity()["Account"]
    b = server.client("organizations").create_account(
        Email="b@example.com", AccountName="b")["CreateAccountStatus"]["AccountId"]
    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    into_b = server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).assume_role(
        RoleArn=f"arn:aws:iam::{b}:role/OrganizationAccountAccessRole", RoleSessionName="admin")["Credentials"]
    iam_b = server.client("iam", into_b["AccessKeyId"], into_b["SecretAccessKey"], into_b["SessionToken"])

    victim, key = make_user(iam, server, "victim")
    victim_arn = f"arn:aws:iam::{a}:user/victim"
    old_id = iam.get_user(UserName="victim")["User"]["UserId"]
    role = iam_b.create_role(RoleName="shared", AssumeRolePolicyDocument=trusting(victim_arn))["Role"]["Arn"]
    victim.assume_role(RoleArn=role, RoleSessionName="first")
    assert shown_principal(iam_b, "shared") == victim_arn

    delete_user(iam, "victim", key)
    assert shown_principal(iam_b, "shared") == old_id
    namesake, _ = make_user(iam, server, "victim")
    with pytest.raises(ClientError) as e:
        namesake.assume_role(RoleArn=role, RoleSessionName="second")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # Saving the policy again binds the ARN to whoever holds it now.
    iam_b.update_assume_role_policy(RoleName="shared", PolicyDocument=trusting(victim_arn))
    namesake.assume_role(RoleArn=role, RoleSessionName="third")


def test_a_renamed_user_is_still_trusted_and_shown_by_its_new_arn(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    alice, _ = make_user(iam, server, "alice")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{acct}:user/alice"))
    iam.update_user(UserName="alice", NewUserName="alice2", NewPath="/team/")
    alice.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/r", RoleSessionName="renamed")
    assert shown_principal(iam, "r") == f"arn:aws:iam::{acct}:user/team/alice2"


def test_a_recreated_source_role_is_not_trusted(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    admin, _ = make_user(iam, server, "admin")
    admin_arn = f"arn:aws:iam::{acct}:user/admin"

    def source():
        iam.create_role(RoleName="src", AssumeRolePolicyDocument=trusting(admin_arn))
        iam.put_role_policy(RoleName="src", PolicyName="assume", PolicyDocument=ASSUME_ANY)
        c = admin.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/src", RoleSessionName="s1")["Credentials"]
        return server.client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    first = source()
    target = iam.create_role(RoleName="target",
                             AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{acct}:role/src"))["Role"]["Arn"]
    first.assume_role(RoleArn=target, RoleSessionName="chain")
    old_id = iam.get_role(RoleName="src")["Role"]["RoleId"]
    iam.delete_role_policy(RoleName="src", PolicyName="assume")
    iam.delete_role(RoleName="src")
    assert shown_principal(iam, "target") == old_id
    second = source()
    with pytest.raises(ClientError) as e:
        second.assume_role(RoleArn=target, RoleSessionName="chain")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_a_principal_that_does_not_exist_is_refused(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    for arn in (f"arn:aws:iam::{acct}:user/nobody", f"arn:aws:iam::{acct}:role/nothing",
                "arn:aws:iam::123456789012:user/elsewhere"):
        with pytest.raises(ClientError) as e:
            iam.create_role(RoleName="r", AssumeRolePolicyDocument=trusting(arn))
        assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"
        assert e.value.response["Error"]["Message"] == f'Invalid principal in policy: "AWS":"{arn}"'
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{acct}:root"))
    with pytest.raises(ClientError) as e:
        iam.update_assume_role_policy(RoleName="r", PolicyDocument=trusting(f"arn:aws:iam::{acct}:user/nobody"))
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert iam.list_roles()["Roles"][0]["RoleName"] == "r"


def test_trust_policies_stored_before_binding_are_bound_at_start(tmp_path):
    """A store written by an older latchkey has no bindings (NULL): `serve`
    binds them to the entities that hold the names when it starts."""
    import sqlite3

    from conftest import Server

    data = tmp_path / "data"
    server = Server(data)
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    _, key = make_user(iam, server, "victim")
    iam.create_role(RoleName="old", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{acct}:user/victim"))
    server.stop()
    db = sqlite3.connect(data / "latchkey.db")
    with db:
        db.execute("UPDATE roles SET trust_principals = NULL")
    db.close()

    server = Server(data)
    iam = server.client("iam")
    delete_user(iam, "victim", key)
    namesake, _ = make_user(iam, server, "victim")
    with pytest.raises(ClientError) as e:
        namesake.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/old", RoleSessionName="legacy")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    server.stop()
