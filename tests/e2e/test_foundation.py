"""The service's foundation, driven by the real aws CLI, boto3 and raw HTTP."""

import datetime
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import BIN, Server, clean_env, init, run


def error_code(exc):
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


# --- set-up -----------------------------------------------------------------

def test_init_writes_private_credentials_and_refuses_a_second_time(tmp_path):
    d = tmp_path / "data"
    out = init(d, account="123456789012")
    assert out["AccountId"] == "123456789012"
    assert out["AccessKeyId"].startswith("AKIA") and len(out["AccessKeyId"]) == 20
    assert len(out["SecretAccessKey"]) == 40
    creds = d / "root-credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "master.key").stat().st_mode) == 0o600
    text = creds.read_text()
    assert text.startswith("[default]\n")
    assert f"aws_access_key_id = {out['AccessKeyId']}" in text

    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    again = run("init", "--data-dir", str(d), "--output", "json", check=False)
    assert again.returncode != 0
    assert again.stdout == ""
    assert "already initialised" in again.stderr
    after = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    assert before == after


def test_init_json_stdout_is_only_the_object(tmp_path):
    out = run("init", "--data-dir", str(tmp_path / "d"), "--output", "json")
    obj = json.loads(out.stdout)
    assert set(obj) == {"AccountId", "AccessKeyId", "SecretAccessKey"}
    assert obj["SecretAccessKey"] not in out.stderr


def test_bad_account_id_is_refused(tmp_path):
    out = run("init", "--data-dir", str(tmp_path / "d"), "--account-id", "12345", check=False)
    assert out.returncode != 0 and "12 digits" in out.stderr


def test_serve_initialises_empty_dir_without_printing_the_secret(server):
    key, secret = server.creds()
    joined = "\n".join(server.lines)
    assert "root-credentials" in joined
    assert secret not in joined
    with urllib.request.urlopen(server.endpoint + "/healthz") as r:
        assert r.status == 200


def test_help_is_complete():
    top = run("--help").stdout
    for cmd in ("serve", "init"):
        assert cmd in top
        sub = run(cmd, "--help").stdout
        assert "--data-dir" in sub and "LATCHKEY_DATA_DIR" in sub
    assert "LATCHKEY_LISTEN" in run("serve", "--help").stdout


def test_precedence_flag_env_file(tmp_path):
    d = tmp_path / "data"
    cfg = tmp_path / "latchkey.toml"
    port = free_port()
    cfg.write_text(f'data_dir = "{d}"\nlisten = "127.0.0.1:{port}"\n')
    # File alone: its listen address is used.
    s = Server(tmp_path / "ignored", args=[], env=clean_env())  # warm-up: a server on another dir
    s.stop()
    proc = subprocess.Popen([BIN, "serve", "--config", str(cfg)], stderr=subprocess.PIPE, text=True, env=clean_env())
    line = proc.stderr.readline()
    while "listening on" not in line:
        line = proc.stderr.readline()
        assert line, "server exited"
    assert f"127.0.0.1:{port}" in line
    proc.terminate(); proc.wait(10)
    # Env beats the file.
    port2 = free_port()
    proc = subprocess.Popen([BIN, "serve", "--config", str(cfg)], stderr=subprocess.PIPE, text=True,
                            env=clean_env(LATCHKEY_LISTEN=f"127.0.0.1:{port2}"))
    line = proc.stderr.readline()
    while "listening on" not in line:
        line = proc.stderr.readline()
    assert f"127.0.0.1:{port2}" in line
    proc.terminate(); proc.wait(10)
    # The flag beats the environment.
    port3 = free_port()
    proc = subprocess.Popen([BIN, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{port3}"],
                            stderr=subprocess.PIPE, text=True, env=clean_env(LATCHKEY_LISTEN=f"127.0.0.1:{port2}"))
    line = proc.stderr.readline()
    while "listening on" not in line:
        line = proc.stderr.readline()
    assert f"127.0.0.1:{port3}" in line
    proc.terminate(); proc.wait(10)
    # An unknown key in the file is an error, not ignored.
    cfg.write_text('lisen = "x"\n')
    out = run("serve", "--config", str(cfg), check=False, timeout=10)
    assert out.returncode != 0 and "lisen" in out.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_is_graceful_and_the_address_can_be_reused(tmp_path):
    d = tmp_path / "data"
    port = free_port()
    s = Server(d, args=[])  # port 0 first, to initialise
    s.stop()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", str(d), "--listen", f"127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    while "listening on" not in proc.stderr.readline():
        pass
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    proc = subprocess.Popen([BIN, "serve", "--data-dir", str(d), "--listen", f"127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    while "listening on" not in (line := proc.stderr.readline()):
        assert line, "second serve on the same address failed"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
        assert r.status == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


# --- the aws CLI ----------------------------------------------------------------

def test_aws_cli_get_caller_identity_with_root_profile(server):
    out = json.loads(server.aws("sts", "get-caller-identity").stdout)
    acct = out["Account"]
    assert out["Arn"] == f"arn:aws:iam::{acct}:root"
    assert out["UserId"] == acct


def test_aws_cli_iam_users_and_keys(server):
    created = json.loads(server.aws("iam", "create-user", "--user-name", "bob", "--tags", "Key=team,Value=data").stdout)
    assert created["User"]["UserName"] == "bob"
    assert created["User"]["Tags"] == [{"Key": "team", "Value": "data"}]
    got = json.loads(server.aws("iam", "get-user", "--user-name", "bob").stdout)
    assert got["User"]["Arn"].endswith(":user/bob")
    users = json.loads(server.aws("iam", "list-users").stdout)["Users"]
    assert [u["UserName"] for u in users] == ["bob"]
    key = json.loads(server.aws("iam", "create-access-key", "--user-name", "bob").stdout)["AccessKey"]
    assert key["Status"] == "Active"
    keys = json.loads(server.aws("iam", "list-access-keys", "--user-name", "bob").stdout)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]]
    info = json.loads(server.aws("sts", "get-access-key-info", "--access-key-id", key["AccessKeyId"]).stdout)
    assert info["Account"] == got["User"]["Arn"].split(":")[4]
    missing = server.aws("iam", "get-user", "--user-name", "nobody", check=False)
    assert missing.returncode != 0 and "NoSuchEntity" in missing.stderr


# --- authentication errors -----------------------------------------------------

def test_wrong_secret(server):
    key, _ = server.creds()
    with pytest.raises(ClientError) as e:
        server.client("sts", key, "x" * 40).get_caller_identity()
    assert error_code(e.value) == ("SignatureDoesNotMatch", 403)


def test_unknown_key(server):
    with pytest.raises(ClientError) as e:
        server.client("sts", "AKIAAAAAAAAAAAAAAAAA", "x" * 40).get_caller_identity()
    assert error_code(e.value) == ("InvalidClientTokenId", 403)
    assert e.value.response["Error"]["Message"] == "The security token included in the request is invalid."


def test_inactive_key(server):
    iam = server.client("iam")
    iam.create_user(UserName="carol")
    k = iam.create_access_key(UserName="carol")["AccessKey"]
    server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
    iam.update_access_key(UserName="carol", AccessKeyId=k["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as e:
        server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
    assert error_code(e.value) == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName="carol", AccessKeyId=k["AccessKeyId"], Status="Active")
    server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()


def signed(server, body, when=None, extra_headers=None, service="sts"):
    key, secret = server.creds()
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=server.endpoint + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(extra_headers or {})},
    )
    auth = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), service, "us-east-1")
    if when is not None:
        real = botocore.auth.datetime.datetime

        class Fixed(real):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when if tz is None else when.replace(tzinfo=tz)

        botocore.auth.datetime.datetime = Fixed
        try:
            auth.add_auth(req)
        finally:
            botocore.auth.datetime.datetime = real
    else:
        auth.add_auth(req)
    return req


def send(server, req, body=None, drop=()):
    headers = {k: v for k, v in req.headers.items() if k.lower() not in drop}
    r = urllib.request.Request(server.endpoint + "/", data=body if body is not None else req.body, headers=headers, method=req.method)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def code_of(text):
    return text.split("<Code>")[1].split("</Code>")[0]


GCI = b"Action=GetCallerIdentity&Version=2011-06-15"


def test_signed_raw_request_works(server):
    status, text, headers = send(server, signed(server, GCI))
    assert status == 200, text
    assert "<GetCallerIdentityResult>" in text
    rid = headers.get("x-amzn-RequestId") or headers.get("x-amzn-requestid")
    assert rid and f"<RequestId>{rid}</RequestId>" in text


def test_request_dated_twenty_minutes_ago(server):
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    status, text, _ = send(server, signed(server, GCI, when=when))
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"
    assert "Signature expired" in text


def test_request_dated_twenty_minutes_ahead(server):
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=20)
    status, text, _ = send(server, signed(server, GCI, when=when))
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"
    assert "Signature not yet current" in text


def test_body_changed_after_signing(server):
    req = signed(server, GCI)
    status, text, _ = send(server, req, body=b"Action=GetCallerIdentity&Version=2011-06-15&X=1")
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"


def test_missing_signed_header(server):
    req = signed(server, GCI, extra_headers={"X-Amz-Meta-Purpose": "test"})
    assert "x-amz-meta-purpose" in req.headers["Authorization"]
    status, text, _ = send(server, req, drop=("x-amz-meta-purpose",))
    assert status == 403 and code_of(text) == "SignatureDoesNotMatch"


def test_unsigned_request(server):
    r = urllib.request.Request(server.endpoint + "/", data=GCI, method="POST",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.urlopen(r)
        raise AssertionError("unsigned request accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and code_of(e.read().decode()) == "MissingAuthenticationToken"


def test_incomplete_authorization_header(server):
    req = signed(server, GCI)
    auth = req.headers["Authorization"]
    req.headers.replace_header("Authorization", auth.split(", Signature=")[0])
    status, text, _ = send(server, req)
    assert status == 400 and code_of(text) == "IncompleteSignature"


def test_presigned_get_url(server):
    sts = server.client("sts")
    # botocore signs with the operation's method (POST) unless told otherwise;
    # real STS then refuses a GET of the URL too, so users pass GET.
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    with urllib.request.urlopen(url) as r:
        assert "<Arn>arn:aws:iam::" in r.read().decode()
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403


def test_a_presigned_sts_url_lives_at_most_fifteen_minutes(tmp_path):
    """STS does not honour X-Amz-Expires beyond 15 minutes (a presigned
    GetCallerIdentity URL is an EKS token; a leaked one must not last a week)."""
    from conftest import Server, clean_env, shifted_clock

    first = Server(tmp_path / "d")
    key, secret = first.creds()
    first.stop()
    # Signed now with a week of validity, presented 16 minutes later.
    late = Server(tmp_path / "d", env=clean_env(LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS="960"))
    sts = late.client("sts", key, secret)
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=604800, HttpMethod="GET")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
    # Signed 10 minutes into the server's past, it still works.
    with shifted_clock(960 - 600):
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=604800, HttpMethod="GET")
    with urllib.request.urlopen(url) as r:
        assert "<Arn>arn:aws:iam::" in r.read().decode()
    late.stop()


# --- protocol -------------------------------------------------------------------

def test_unknown_action_and_bad_parameters(server):
    status, text, _ = send(server, signed(server, b"Action=Frobnicate&Version=2011-06-15"))
    assert status == 400 and code_of(text) == "InvalidAction"
    assert "<Type>Sender</Type>" in text
    status, text, _ = send(server, signed(server, b"Action=GetAccessKeyInfo&Version=2011-06-15"))
    assert status == 400 and code_of(text) == "ValidationError"
    assert "accessKeyId" in text
    with pytest.raises(ClientError) as e:
        server.client("iam").create_user(UserName="bad name!")
    assert error_code(e.value) == ("ValidationError", 400)
    assert "userName" in e.value.response["Error"]["Message"]


def test_malformed_bodies_never_break_the_server(server):
    for body in [b"%", b"Action", b"&&&==", b"Action=%ZZ", bytes(range(256)), b"Action=" + b"A" * 100000]:
        status, text, _ = send(server, signed(server, body))
        assert status in (400, 403), (body[:20], status, text)
    status, _, _ = send(server, signed(server, GCI))
    assert status == 200


def test_body_limit(server):
    big = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * (2 * 1024 * 1024)
    status, _, _ = send(server, signed(server, big))
    assert status == 413


def test_iam_errors_use_the_iam_namespace(server):
    status, text, _ = send(server, signed(server, b"Action=GetUser&Version=2010-05-08&UserName=ghost", service="iam"))
    assert status == 404 and code_of(text) == "NoSuchEntity"
    assert 'xmlns="https://iam.amazonaws.com/doc/2010-05-08/"' in text
    assert "The user with name ghost cannot be found." in text


# --- persistence and secrecy ----------------------------------------------------

def test_restart_keeps_state_and_secrets_are_encrypted_at_rest(tmp_path):
    d = tmp_path / "data"
    s = Server(d)
    iam = s.client("iam")
    iam.create_user(UserName="dave")
    k = iam.create_access_key(UserName="dave")["AccessKey"]
    root_key, root_secret = s.creds()
    assert s.stop() == 0

    s2 = Server(d)
    try:
        me = s2.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
        assert me["Arn"].endswith(":user/dave")
        assert s2.client("iam").get_user(UserName="dave")["User"]["UserName"] == "dave"
    finally:
        s2.stop()
    for f in d.rglob("*"):
        if f.name in ("root-credentials", "master.key") or not f.is_file():
            continue
        data = f.read_bytes()
        for secret in (k["SecretAccessKey"], root_secret):
            assert secret.encode() not in data, f"{secret[:4]}… readable in {f.name}"


def test_wrong_master_key_refuses_to_start(tmp_path):
    d = tmp_path / "data"
    init(d)
    out = run("serve", "--data-dir", str(d), "--listen", "127.0.0.1:0", check=False, timeout=20,
              env=clean_env(LATCHKEY_MASTER_KEY="A" * 43 + "="))
    assert out.returncode != 0
    assert "master key" in out.stderr


def test_logs_carry_no_secrets(tmp_path):
    d = tmp_path / "data"
    s = Server(d, env=clean_env(LATCHKEY_LOG="debug"))
    iam = s.client("iam")
    iam.create_user(UserName="erin")
    k = iam.create_access_key(UserName="erin")["AccessKey"]
    s.client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
    s.stop()
    log = "\n".join(s.lines)
    assert "GetCallerIdentity" in log and "request_id" in log
    _, root_secret = s.creds()
    for secret in (k["SecretAccessKey"], root_secret):
        assert secret not in log
    assert "Signature=" not in log
