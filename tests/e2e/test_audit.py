"""The audit trail: CloudTrail records of every call, found with the real
aws CLI's `cloudtrail lookup-events`, free of secrets, and durable across
kill -9."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import botocore.exceptions
import pytest

from conftest import BIN, Server, clean_env, run

TRUST = lambda account: json.dumps({  # noqa: E731
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
    }],
})
ALLOW_ASSUME = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": "*"}],
})


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def user_with_key(server, name, policy=ALLOW_ASSUME):
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def lookup(server, key, value, *extra, profile_file=None):
    out = server.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                     f"AttributeKey={key},AttributeValue={value}", *extra, profile_file=profile_file)
    return json.loads(out.stdout)["Events"]


def write_profile(path, key, secret, token=None):
    lines = ["[default]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}"]
    if token:
        lines.append(f"aws_session_token = {token}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lookup_events_finds_an_assume_role_by_session_name_source_identity_and_key(server, tmp_path):
    account = account_of(server)
    iam = server.client("iam")
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=TRUST(account))
    key, secret = user_with_key(server, "alice")
    sts = server.client("sts", key, secret)
    out = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/deployer", RoleSessionName="release-42",
                          SourceIdentity="alice@example.com")
    issued = out["Credentials"]["AccessKeyId"]

    by_session = lookup(server, "ResourceName", "release-42")
    assert [e["EventName"] for e in by_session] == ["AssumeRole"]
    event = by_session[0]
    assert event["Username"] == "alice"
    assert event["AccessKeyId"] == key
    assert event["EventSource"] == "sts.amazonaws.com"
    assert event["ReadOnly"] == "true"
    assert {"ResourceType": "AWS::IAM::Role", "ResourceName": f"arn:aws:iam::{account}:role/deployer"} in event["Resources"]
    assert {"ResourceType": "AWS::IAM::AccessKey", "ResourceName": issued} in event["Resources"]
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventName"] == "AssumeRole"
    assert record["eventType"] == "AwsApiCall"
    assert record["recipientAccountId"] == account
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["userIdentity"]["userName"] == "alice"
    assert record["userIdentity"]["accessKeyId"] == key
    assert record["requestParameters"]["roleSessionName"] == "release-42"
    assert record["requestParameters"]["sourceIdentity"] == "alice@example.com"
    assert record["responseElements"]["credentials"]["accessKeyId"] == issued
    assert "sessionToken" not in record["responseElements"]["credentials"]
    assert record["responseElements"]["assumedRoleUser"]["arn"] == f"arn:aws:sts::{account}:assumed-role/deployer/release-42"
    assert record["eventID"] == event["EventId"]
    assert "sharedEventID" not in record, "same-account calls have one record"

    assert [e["EventId"] for e in lookup(server, "ResourceName", "alice@example.com")] == [event["EventId"]]
    assert [e["EventId"] for e in lookup(server, "ResourceName", issued)] == [event["EventId"]]

    # Calls made with the session are recorded as the assumed role, with its
    # source identity, and found by its access key id and session name.
    role_sts = server.client("sts", issued, out["Credentials"]["SecretAccessKey"], out["Credentials"]["SessionToken"])
    role_sts.get_caller_identity()
    made = lookup(server, "AccessKeyId", issued)
    assert [e["EventName"] for e in made] == ["GetCallerIdentity"]
    assert made[0]["Username"] == "release-42"
    ident = json.loads(made[0]["CloudTrailEvent"])["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["arn"] == f"arn:aws:sts::{account}:assumed-role/deployer/release-42"
    assert ident["sessionContext"]["sessionIssuer"]["arn"] == f"arn:aws:iam::{account}:role/deployer"
    assert ident["sessionContext"]["sessionIssuer"]["userName"] == "deployer"
    assert ident["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert ident["sessionContext"]["sourceIdentity"] == "alice@example.com"
    assert [e["EventName"] for e in lookup(server, "Username", "release-42")] == ["GetCallerIdentity"]


def test_failures_are_recorded_with_their_error_code(server):
    account = account_of(server)
    server.client("iam").create_role(RoleName="locked", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }))
    key, secret = user_with_key(server, "mallory")
    with pytest.raises(botocore.exceptions.ClientError):
        server.client("sts", key, secret).assume_role(RoleArn=f"arn:aws:iam::{account}:role/locked", RoleSessionName="try")
    refused = lookup(server, "ResourceName", "try")
    assert len(refused) == 1
    record = json.loads(refused[0]["CloudTrailEvent"])
    assert record["errorCode"] == "AccessDenied"
    assert "not authorized to perform: sts:AssumeRole" in record["errorMessage"]
    assert record["responseElements"] is None

    # A refused signature naming a known key is recorded in its account.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        server.client("iam", key, "wrong-secret-wrong-secret-wrong-secret0").list_users()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    bad = [e for e in lookup(server, "AccessKeyId", key) if e["EventName"] == "ListUsers"]
    assert len(bad) == 1
    assert json.loads(bad[0]["CloudTrailEvent"])["errorCode"] == "SignatureDoesNotMatch"

    # An IAM write is recorded as a write, found by its resource.
    creates = lookup(server, "EventName", "CreateUser")
    assert creates and creates[0]["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": "mallory"} in creates[0]["Resources"]
    assert [e["EventName"] for e in lookup(server, "ReadOnly", "false")][:1] == ["CreateAccessKey"]


def test_lookup_events_pages_filters_by_time_and_validates(server):
    for i in range(7):
        server.client("iam").create_user(UserName=f"u{i}")
    first = json.loads(server.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                                  "AttributeKey=EventName,AttributeValue=CreateUser",
                                  "--max-items", "3").stdout)
    assert len(first["Events"]) == 3
    assert [e["Resources"][0]["ResourceName"] for e in first["Events"]] == ["u6", "u5", "u4"], "newest first"
    everything = lookup(server, "EventName", "CreateUser")  # the CLI follows NextToken
    assert [e["Resources"][0]["ResourceName"] for e in everything] == [f"u{i}" for i in reversed(range(7))]

    ct = server.client("cloudtrail")
    page = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}], MaxResults=2)
    assert len(page["Events"]) == 2 and "NextToken" in page
    nxt = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
                           MaxResults=2, NextToken=page["NextToken"])
    assert nxt["Events"][0]["EventId"] not in {e["EventId"] for e in page["Events"]}
    future = ct.lookup_events(StartTime=time.time() + 3600)
    assert future["Events"] == []
    for kwargs, code in [
        (dict(MaxResults=51), "InvalidMaxResultsException"),
        (dict(StartTime=time.time(), EndTime=time.time() - 3600), "InvalidTimeRangeException"),
        (dict(NextToken="not-a-token"), "InvalidNextTokenException"),
        (dict(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "A"},
                                {"AttributeKey": "Username", "AttributeValue": "B"}]), "InvalidLookupAttributesException"),
        # A token is bound to the query it came from.
        (dict(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}], NextToken=page["NextToken"]),
         "InvalidNextTokenException"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ct.lookup_events(**kwargs)
        assert e.value.response["Error"]["Code"] == code, kwargs


def test_lookup_events_needs_permission_and_sees_only_the_callers_account(server):
    key, secret = user_with_key(server, "nobody", policy=None)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        server.client("cloudtrail", key, secret).lookup_events()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    server.client("iam").put_user_policy(UserName="nobody", PolicyName="ct", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
    events = server.client("cloudtrail", key, secret).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutUserPolicy"}])["Events"]
    assert len(events) == 1

    # A member account's trail is its own.
    org = server.client("organizations")
    created = org.create_account(Email="m@example.com", AccountName="member")["CreateAccountStatus"]
    member = created["AccountId"]
    mgmt = account_of(server)
    # Cross-account AssumeRole: one record in each account, one shared id.
    server.client("iam").put_user_policy(UserName="nobody", PolicyName="assume", PolicyDocument=ALLOW_ASSUME)
    out = server.client("sts", key, secret).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="cross")
    c = out["Credentials"]
    as_member = server.client("cloudtrail", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    theirs = as_member.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}])["Events"]
    ours = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "cross"}])["Events"]
    assert len(theirs) == 1 and len(ours) == 1
    theirs_rec, ours_rec = json.loads(theirs[0]["CloudTrailEvent"]), json.loads(ours[0]["CloudTrailEvent"])
    assert theirs_rec["recipientAccountId"] == member and ours_rec["recipientAccountId"] == mgmt
    assert theirs_rec["sharedEventID"] == ours_rec["sharedEventID"]
    assert theirs_rec["eventID"] != ours_rec["eventID"]
    # The caller's account sees who called; the role owner's sees only which
    # account and principal id (the IAM User Guide's cross-account example).
    user_id = server.client("iam").get_user(UserName="nobody")["User"]["UserId"]
    assert ours_rec["userIdentity"]["type"] == "IAMUser"
    assert ours_rec["userIdentity"]["userName"] == "nobody" and ours_rec["userIdentity"]["accessKeyId"] == key
    assert theirs_rec["userIdentity"] == {"type": "AWSAccount", "principalId": user_id, "accountId": mgmt}
    for leak in ("nobody", key):
        assert leak not in json.dumps(theirs[0], default=str), f"{leak} in the role owner's record"
    # The member's trail holds none of the management account's other events.
    assert as_member.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])["Events"] == []


def test_no_secret_reaches_the_data_dir_or_any_record(server, tmp_path):
    account = account_of(server)
    iam = server.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST(account))
    key, secret = user_with_key(server, "bob", policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}))
    handed_out = [secret]
    sts = server.client("sts", key, secret)
    for i in range(3):
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/r", RoleSessionName=f"s{i}")["Credentials"]
        handed_out += [c["SecretAccessKey"], c["SessionToken"]]
        server.client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]).get_caller_identity()
    c = sts.get_session_token()["Credentials"]
    handed_out += [c["SecretAccessKey"], c["SessionToken"]]
    c = sts.get_federation_token(Name="fed")["Credentials"]
    handed_out += [c["SecretAccessKey"], c["SessionToken"]]
    _, root_secret = server.creds()
    # An MFA code in a request is hidden too.
    with pytest.raises(botocore.exceptions.ClientError):
        sts.get_session_token(SerialNumber=f"arn:aws:iam::{account}:mfa/none", TokenCode="918273")
    handed_out.append("918273")

    server.stop()
    dump = tmp_path / "export.jsonl"
    run("audit", "export", "--data-dir", str(server.data_dir), "--output", str(dump))
    records = [json.loads(l) for l in dump.read_text().splitlines()]
    assert len(records) > 10
    assert any(r["eventName"] == "GetFederationToken" for r in records)
    blobs = [dump.read_bytes()]
    for path in server.data_dir.rglob("*"):
        if path.is_file() and path.name != "root-credentials":
            blobs.append(path.read_bytes())
    for s in handed_out:
        for blob in blobs:
            assert s.encode() not in blob, "a secret reached the data directory or the trail"
    # The root secret lives in root-credentials only.
    for blob in blobs:
        assert root_secret.encode() not in blob
    hidden = [r for r in records if r["eventName"] == "GetSessionToken" and r.get("errorCode")]
    assert hidden[0]["requestParameters"]["tokenCode"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def test_export_filters_by_time(server, tmp_path):
    server.client("iam").create_user(UserName="x")
    server.stop()
    now = int(time.time())
    out = run("audit", "export", "--data-dir", str(server.data_dir), "--since", str(now - 600))
    assert any(json.loads(l)["eventName"] == "CreateUser" for l in out.stdout.splitlines())
    out = run("audit", "export", "--data-dir", str(server.data_dir), "--until", "2000-01-01T00:00:00Z")
    assert out.stdout == ""


def test_metrics_count_requests_credentials_and_audit(server):
    account = account_of(server)
    server.client("iam").create_role(RoleName="m", AssumeRolePolicyDocument=TRUST(account))
    key, secret = user_with_key(server, "carol")
    server.client("sts", key, secret).assume_role(RoleArn=f"arn:aws:iam::{account}:role/m", RoleSessionName="s1")
    with pytest.raises(botocore.exceptions.ClientError):
        server.client("iam", key, secret).list_users()
    import urllib.request
    text = urllib.request.urlopen(server.endpoint + "/metrics").read().decode()
    assert 'latchkey_requests_total{service="sts",action="AssumeRole",outcome="Success"} 1' in text
    assert 'latchkey_requests_total{service="iam",action="ListUsers",outcome="AccessDenied"} 1' in text
    assert 'latchkey_credentials_issued_total{kind="AssumeRole"} 1' in text
    assert "latchkey_access_denied_total 1" in text
    import re
    assert re.search(r"^latchkey_audit_queue_depth \d+$", text, re.M)
    assert "latchkey_audit_commit_seconds_count" in text
    assert "latchkey_token_key_age_seconds" in text
    assert 'latchkey_request_duration_seconds_bucket{service="sts",action="AssumeRole",le="+Inf"} 1' in text


def test_kill_9_loses_no_issued_credential(tmp_path):
    """Concurrent AssumeRole clients; kill -9 mid-run; every credential any
    client received is in the trail after restart, and the store opens."""
    server = Server(tmp_path / "data")
    account = account_of(server)
    server.client("iam").create_role(RoleName="ci", AssumeRolePolicyDocument=TRUST(account))
    key, secret = user_with_key(server, "ci-bot")
    received, errors = [], []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        sts = server.client("sts", key, secret)
        i = 0
        while not stop.is_set():
            try:
                out = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/ci", RoleSessionName=f"c{n}-{i}")
            except Exception as e:  # the connection dies with the server
                errors.append(type(e).__name__)
                return
            with lock:
                received.append(out["Credentials"]["AccessKeyId"])
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(received) < 150 and time.time() < deadline:
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(received) >= 150, f"only {len(received)} credentials before the kill"

    restarted = Server(server.data_dir)
    try:
        assert restarted.client("sts").get_caller_identity()["Account"] == account
        restarted.client("iam").get_role(RoleName="ci")
    finally:
        restarted.stop()
    dump = tmp_path / "trail.jsonl"
    run("audit", "export", "--data-dir", str(server.data_dir), "--output", str(dump))
    recorded = set()
    for line in dump.read_text().splitlines():
        r = json.loads(line)
        if r["eventName"] == "AssumeRole" and r.get("responseElements"):
            recorded.add(r["responseElements"]["credentials"]["accessKeyId"])
    missing = [k for k in received if k not in recorded]
    assert not missing, f"{len(missing)} of {len(received)} issued credentials are not in the trail"
