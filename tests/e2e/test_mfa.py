"""Virtual MFA devices and MFA-protected AssumeRole / GetSessionToken."""

import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from botocore.exceptions import ClientError


def totp(seed_b32, step):
    key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    digest = hmac.new(key, struct.pack(">q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def code(exc):
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def mfa_user(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="alice")
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{acct}:mfa/alice-phone"
    assert device["QRCodePNG"][:8] == b"\x89PNG\r\n\x1a\n"
    seed = device["Base32StringSeed"].decode()
    now = int(time.time()) // 30
    with pytest.raises(ClientError) as e:
        iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                              AuthenticationCode1=totp(seed, now), AuthenticationCode2=totp(seed, now - 5))
    assert code(e) == "InvalidAuthenticationCode"
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                          AuthenticationCode1=totp(seed, now - 2), AuthenticationCode2=totp(seed, now - 1))
    listed = iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    alice = lambda svc: server.client(svc, k["AccessKeyId"], k["SecretAccessKey"])  # noqa: E731
    return server, iam, acct, alice, serial, seed


def mfa_trust(acct):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/alice"}, "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})


def test_trust_requiring_mfa(mfa_user):
    server, iam, acct, alice, serial, seed = mfa_user
    role = iam.create_role(RoleName="admin", AssumeRolePolicyDocument=mfa_trust(acct))["Role"]
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="no-mfa")
    assert code(e) == "AccessDenied"
    now = int(time.time()) // 30
    with pytest.raises(ClientError) as e:
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="bad", SerialNumber=serial,
                                 TokenCode=totp(seed, now + 7))
    assert code(e) == "AccessDenied"
    good = totp(seed, now)
    alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="with-mfa", SerialNumber=serial, TokenCode=good)
    with pytest.raises(ClientError) as e:  # a code is accepted once
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="replay", SerialNumber=serial, TokenCode=good)
    assert code(e) == "AccessDenied"


def test_lockout_after_five_wrong_codes(mfa_user):
    server, iam, acct, alice, serial, seed = mfa_user
    role = iam.create_role(RoleName="admin", AssumeRolePolicyDocument=mfa_trust(acct))["Role"]
    now = int(time.time()) // 30
    wrong = "000000" if totp(seed, now) != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(ClientError):
            alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="guess", SerialNumber=serial, TokenCode=wrong)
    with pytest.raises(ClientError) as e:  # now even the right code is refused
        alice("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="locked", SerialNumber=serial,
                                 TokenCode=totp(seed, now + 1))
    assert code(e) == "AccessDenied" and "too many invalid codes" in e.value.response["Error"]["Message"]


def test_session_token_with_mfa_reaches_iam(mfa_user):
    server, iam, acct, alice, serial, seed = mfa_user
    iam.put_user_policy(UserName="alice", PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
                                                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}))
    with pytest.raises(ClientError):
        alice("iam").list_users()  # long-term keys carry no MFA
    creds = alice("sts").get_session_token(SerialNumber=serial, TokenCode=totp(seed, int(time.time()) // 30))["Credentials"]
    s = server.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert [u["UserName"] for u in s.list_users()["Users"]] == ["alice"]


def test_device_lifecycle(mfa_user):
    server, iam, acct, alice, serial, seed = mfa_user
    with pytest.raises(ClientError) as e:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert code(e) == "DeleteConflict"
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName="alice")
    assert code(e) == "DeleteConflict"
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned[0]["User"]["UserName"] == "alice"
    iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
