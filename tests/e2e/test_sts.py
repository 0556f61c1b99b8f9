"""AssumeRole and temporary credentials, through boto3 and the aws CLI."""

import base64
import json

import pytest
from botocore.exceptions import ClientError

from conftest import Server, clean_env, shifted_clock


def code(exc):
    return exc.value.response["Error"]["Code"]


def message(exc):
    return exc.value.response["Error"]["Message"]


def trust(principal, condition=None, actions=("sts:AssumeRole",)):
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def allow(*actions, resource="*"):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


@pytest.fixture
def env(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="alice")
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = lambda svc: server.client(svc, k["AccessKeyId"], k["SecretAccessKey"])  # noqa: E731
    return server, iam, acct, alice


def session(server, creds, service="sts"):
    return server.client(service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def test_trust_naming_the_user_allows_on_its_own(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    out = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="alice-session")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/r/alice-session"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:alice-session"
    assert len(creds["SessionToken"]) < 2048
    me = session(server, creds).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{acct}:assumed-role/r/alice-session"
    assert me["UserId"] == f"{role['RoleId']}:alice-session"
    used = iam.get_role(RoleName="r")["Role"]["RoleLastUsed"]
    assert used["Region"] == "us-east-1"


def test_trust_naming_the_account_needs_the_callers_own_policy(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:root"))["Role"]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert code(e) == "AccessDenied"
    head = f"User: arn:aws:iam::{acct}:user/alice is not authorized to perform: sts:AssumeRole on resource: {role['Arn']}"
    assert message(e).startswith(head)
    # The encoded message says which side was missing: the caller's own policy.
    encoded = message(e).split("Encoded authorization failure message: ", 1)[1]
    decoded = json.loads(server.client("sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["matchedStatements"]["items"][0]["policyType"] == "identity-based policy"

    iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", resource=role["Arn"]))
    alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")


def test_a_missing_role_is_refused_like_a_trust_failure(env):
    server, iam, acct, alice = env
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/ghost", RoleSessionName="s1")
    assert code(e) == "AccessDenied"


def test_root_cannot_assume_roles(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:root"))["Role"]
    with pytest.raises(ClientError) as e:
        server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert code(e) == "AccessDenied"
    assert message(e) == "Roles may not be assumed by root accounts."


def test_duration_limits_and_chaining_cap(env):
    server, iam, acct, alice = env
    r1 = iam.create_role(RoleName="one", MaxSessionDuration=7200,
                         AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    r2 = iam.create_role(RoleName="two", MaxSessionDuration=43200,
                         AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:role/one"))["Role"]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=r1["Arn"], RoleSessionName="sess", DurationSeconds=7201)
    assert code(e) == "ValidationError"
    assert message(e) == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    creds = alice("sts").assume_role(RoleArn=r1["Arn"], RoleSessionName="sess", DurationSeconds=7200)["Credentials"]
    hop = session(server, creds)
    with pytest.raises(ClientError) as e:
        hop.assume_role(RoleArn=r2["Arn"], RoleSessionName="s2", DurationSeconds=3601)
    assert code(e) == "ValidationError"
    assert message(e) == "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    chained = hop.assume_role(RoleArn=r2["Arn"], RoleSessionName="s2")
    assert chained["AssumedRoleUser"]["Arn"].endswith(":assumed-role/two/s2")
    raw = alice("sts")
    raw_nv = server.client("sts", *raw._request_signer._credentials.get_frozen_credentials()[:2], validate=False)
    with pytest.raises(ClientError) as e:
        raw_nv.assume_role(RoleArn=r1["Arn"], RoleSessionName="sess", DurationSeconds=60)
    assert code(e) == "ValidationError" and "durationSeconds" in message(e)


def test_external_id_condition(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="vendor", AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{acct}:user/alice", {"StringEquals": {"sts:ExternalId": "Unique-123"}}))["Role"]
    for kwargs in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as e:
            alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", **kwargs)
        assert code(e) == "AccessDenied"
    alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", ExternalId="Unique-123")


def test_session_permissions_are_role_policies_narrowed_by_session_policy(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=allow("iam:ListUsers", "iam:ListRoles"))
    full = session(server, alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sa")["Credentials"], "iam")
    full.list_users()
    full.list_roles()
    with pytest.raises(ClientError) as e:
        full.list_groups()
    assert code(e) == "AccessDenied"
    assert f"arn:aws:sts::{acct}:assumed-role/r/sa" in message(e)

    out = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sb",
                                   Policy=allow("iam:ListUsers", "iam:CreateUser"))
    assert out["PackedPolicySize"] > 0
    narrow = session(server, out["Credentials"], "iam")
    narrow.list_users()
    with pytest.raises(ClientError) as e:
        narrow.list_roles()
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:  # the session policy never grants
        narrow.create_user(UserName="x")
    assert code(e) == "AccessDenied"

    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sc", Policy='{"Version":"2012-10-17"')
    assert code(e) == "MalformedPolicyDocument"


def test_tags_need_tag_session_and_become_principal_tags(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", Tags=[{"Key": "team", "Value": "data"}])
    assert code(e) == "AccessDenied" and "sts:TagSession" in message(e)
    iam.update_assume_role_policy(RoleName="r", PolicyDocument=trust(
        f"arn:aws:iam::{acct}:user/alice", actions=("sts:AssumeRole", "sts:TagSession")))
    iam.put_role_policy(RoleName="r", PolicyName="abac", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}}}]}))
    data = session(server, alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess",
                                                    Tags=[{"Key": "team", "Value": "data"}])["Credentials"], "iam")
    data.list_users()
    other = session(server, alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess",
                                                     Tags=[{"Key": "team", "Value": "web"}])["Credentials"], "iam")
    with pytest.raises(ClientError) as e:
        other.list_users()
    assert code(e) == "AccessDenied"


def test_source_identity_needs_permission_and_sticks(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", SourceIdentity="alice")
    assert code(e) == "AccessDenied" and "sts:SetSourceIdentity" in message(e)
    iam.update_assume_role_policy(RoleName="r", PolicyDocument=trust(
        f"arn:aws:iam::{acct}:user/alice", actions=("sts:AssumeRole", "sts:SetSourceIdentity")))
    out = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", SourceIdentity="alice")
    assert out["SourceIdentity"] == "alice"


def test_tampered_and_misused_tokens_are_refused(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    c1 = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sa")["Credentials"]
    c2 = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sb")["Credentials"]
    token = c1["SessionToken"]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for i in range(0, len(raw), max(1, len(raw) // 40)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("=")
        with pytest.raises(ClientError) as e:
            server.client("sts", c1["AccessKeyId"], c1["SecretAccessKey"], forged).get_caller_identity()
        assert code(e) == "InvalidClientTokenId", i
    with pytest.raises(ClientError) as e:  # a token presented with another access key id
        server.client("sts", c2["AccessKeyId"], c1["SecretAccessKey"], token).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:  # a temporary key without its token
        server.client("sts", c1["AccessKeyId"], c1["SecretAccessKey"]).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:  # the right token, a wrong secret
        server.client("sts", c1["AccessKeyId"], "x" * 40, token).get_caller_identity()
    assert code(e) == "SignatureDoesNotMatch"


def test_expiry_and_a_restart_on_the_same_data_dir(tmp_path):
    d = tmp_path / "data"
    s = Server(d)
    iam = s.client("iam")
    acct = s.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="alice")
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    creds = s.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).assume_role(
        RoleArn=role["Arn"], RoleSessionName="sess", DurationSeconds=900)["Credentials"]
    assert s.stop() == 0

    again = Server(d)  # a new process: the token key came from the store
    try:
        assert session(again, creds).get_caller_identity()["Arn"].endswith("assumed-role/r/sess")
    finally:
        again.stop()

    late = Server(d, env=clean_env(LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS="901"))
    try:
        with pytest.raises(ClientError) as e:
            session(late, creds).get_caller_identity()
        assert code(e) == "ExpiredToken"
        assert message(e) == "The security token included in the request is expired"
    finally:
        late.stop()


def test_aws_cli_assume_role(env):
    server, iam, acct, alice = env
    iam.create_role(RoleName="cli", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    profile = server.data_dir.parent / "alice-credentials"
    profile.write_text(f"[default]\naws_access_key_id = {k['AccessKeyId']}\naws_secret_access_key = {k['SecretAccessKey']}\n")
    out = json.loads(server.aws("sts", "assume-role", "--role-arn", f"arn:aws:iam::{acct}:role/cli",
                                "--role-session-name", "from-cli", profile_file=profile).stdout)
    c = out["Credentials"]
    sess = server.data_dir.parent / "session-credentials"
    sess.write_text(f"[default]\naws_access_key_id = {c['AccessKeyId']}\naws_secret_access_key = {c['SecretAccessKey']}\n"
                    f"aws_session_token = {c['SessionToken']}\n")
    me = json.loads(server.aws("sts", "get-caller-identity", profile_file=sess).stdout)
    assert me["Arn"] == f"arn:aws:sts::{acct}:assumed-role/cli/from-cli"


def test_get_session_token_limits(env):
    server, iam, acct, alice = env
    out = alice("sts").get_session_token(DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    s = session(server, creds)
    assert s.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:user/alice"
    with pytest.raises(ClientError) as e:  # IAM needs MFA with these credentials
        session(server, creds, "iam").list_users()
    assert code(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        s.get_session_token()
    assert code(e) == "AccessDenied"
    assert message(e) == "Cannot call GetSessionToken with session credentials"
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/alice"))["Role"]
    s.assume_role(RoleArn=role["Arn"], RoleSessionName="from-gst")
    with pytest.raises(ClientError) as e:  # MFA devices do not exist yet, so no code is ever accepted
        alice("sts").get_session_token(SerialNumber=f"arn:aws:iam::{acct}:mfa/alice", TokenCode="123456")
    assert code(e) == "AccessDenied"
    root = server.client("sts").get_session_token()["Credentials"]
    assert session(server, root).get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:root"


def test_get_federation_token(env):
    server, iam, acct, alice = env
    with pytest.raises(ClientError) as e:
        alice("sts").get_federation_token(Name="fed-bob")
    assert code(e) == "AccessDenied"
    iam.put_user_policy(UserName="alice", PolicyName="fed", PolicyDocument=allow("sts:GetFederationToken"))
    out = alice("sts").get_federation_token(Name="fed-bob", Policy=allow("iam:ListUsers"))
    assert out["FederatedUser"]["Arn"] == f"arn:aws:sts::{acct}:federated-user/fed-bob"
    assert out["FederatedUser"]["FederatedUserId"] == f"{acct}:fed-bob"
    s = session(server, out["Credentials"])
    me = s.get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{acct}:federated-user/fed-bob" and me["UserId"] == f"{acct}:fed-bob"
    with pytest.raises(ClientError) as e:  # GetFederationToken credentials cannot call IAM
        session(server, out["Credentials"], "iam").list_users()
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/any", RoleSessionName="nope")
    assert code(e) == "AccessDenied"


def test_token_key_rotation(tmp_path):
    """Tokens sealed by the previous key keep working after a rotation; once
    that key is retired (rotation period + 36 h), they do not."""
    d = tmp_path / "data"
    day = 86400
    s = Server(d)
    creds = s.client("sts").get_session_token(DurationSeconds=3600)["Credentials"]
    iam = s.client("iam")
    iam.create_user(UserName="alice")
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    long = s.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_session_token(DurationSeconds=129600)["Credentials"]
    s.stop()

    # A day and an hour later: the key is rotated at start, the 36-hour token still opens.
    later = Server(d, env=clean_env(LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS=str(day + 3600)))
    try:
        with shifted_clock(day + 3600):
            assert session(later, long).get_caller_identity()["Arn"].endswith(":user/alice")
            with pytest.raises(ClientError) as e:
                session(later, creds).get_caller_identity()
            assert code(e) == "ExpiredToken"
            fresh = later.client("sts").get_session_token(DurationSeconds=3600)["Credentials"]
    finally:
        later.stop()
    def key_id(token):
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw[1:5]  # version byte, then the sealing key's id

    assert key_id(fresh["SessionToken"]) != key_id(long["SessionToken"]), "no rotation happened"

    # Two and a half days later the first key is retired: its tokens are unknown, not merely expired.
    much_later = Server(d, env=clean_env(LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS=str(int(2.6 * day))))
    try:
        with shifted_clock(int(2.6 * day)), pytest.raises(ClientError) as e:
            session(much_later, long).get_caller_identity()
        assert code(e) == "InvalidClientTokenId"
    finally:
        much_later.stop()


def test_transitive_tags_pass_through_a_chain_and_cannot_be_reset(env):
    server, iam, acct, alice = env
    r1 = iam.create_role(RoleName="one", AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{acct}:user/alice", actions=("sts:AssumeRole", "sts:TagSession")))["Role"]
    r2 = iam.create_role(RoleName="two", AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{acct}:role/one", actions=("sts:AssumeRole", "sts:TagSession")))["Role"]
    iam.put_role_policy(RoleName="two", PolicyName="abac", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}}}]}))
    first = alice("sts").assume_role(RoleArn=r1["Arn"], RoleSessionName="hop-one",
                                     Tags=[{"Key": "team", "Value": "data"}, {"Key": "temp", "Value": "x"}],
                                     TransitiveTagKeys=["team"])["Credentials"]
    hop = session(server, first)
    second = hop.assume_role(RoleArn=r2["Arn"], RoleSessionName="hop-two")["Credentials"]
    session(server, second, "iam").list_users()  # team=data came through the chain
    with pytest.raises(ClientError) as e:
        hop.assume_role(RoleArn=r2["Arn"], RoleSessionName="hop-two", Tags=[{"Key": "team", "Value": "web"}])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:  # a transitive key must be one of the tags
        alice("sts").assume_role(RoleArn=r1["Arn"], RoleSessionName="bad", Tags=[{"Key": "a", "Value": "b"}],
                                 TransitiveTagKeys=["missing"])
    assert code(e) == "InvalidParameterValue"


def test_packed_policy_too_large(env):
    server, iam, acct, alice = env
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{acct}:user/alice", actions=("sts:AssumeRole", "sts:TagSession")))["Role"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::*:user/{'x' * 1800}"}]})
    tags = [{"Key": f"k{i:02d}" + "k" * 100, "Value": "v" * 200} for i in range(50)]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="big", Policy=policy, Tags=tags)
    assert code(e) == "PackedPolicyTooLarge"
    small = alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="small", Policy=policy)
    assert 0 < small["PackedPolicySize"] <= 100
