"""The S3 front end, driven by the real aws CLI and boto3, in front of a
real S3 server (moto's) started here: the seed tutorial end to end, and the
rules around it from AWS's S3 authorization documentation."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore.config
import pytest

from conftest import BIN, REPO, Server, clean_env, run

UPSTREAM_KEY = "LATCHKEYUPSTREAMKEY01"
UPSTREAM_SECRET = "upstream-secret-never-shown-0123456789"
BUCKET = "my-learnaws-test-bucket"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(tmp):
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def start_s3s(tmp):
    """s3s-fs, built in the workspace as latchkey-s3-upstream: it checks
    latchkey's SigV4 signatures with the upstream key."""
    exe = os.environ.get("LATCHKEY_S3_UPSTREAM_BIN") or os.path.join(os.path.dirname(BIN), "latchkey-s3-upstream")
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "--port", "0", "--access-key", UPSTREAM_KEY, "--secret-key", UPSTREAM_SECRET, str(tmp)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"latchkey-s3-upstream did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1].strip()


def _upstream(request, tmp_path_factory):
    start = start_s3s if request.param == "s3s" else start_moto
    proc, url = start(tmp_path_factory.mktemp(request.param))
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module", params=["s3s", "moto"])
def upstream(request, tmp_path_factory):
    """A real S3 server as the store latchkey fronts: s3s-fs (which verifies
    latchkey's signatures) and moto's, to show nothing is s3s-specific.
    Shared by the module's tests, which use distinct bucket names."""
    yield from _upstream(request, tmp_path_factory)


@pytest.fixture(params=["s3s", "moto"])
def empty_upstream(request, tmp_path_factory):
    """An upstream of the test's own, holding no bucket yet."""
    yield from _upstream(request, tmp_path_factory)


def s3_server(tmp_path, upstream, extra_env=None, data_dir=None):
    env = clean_env(
        LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID=UPSTREAM_KEY,
        LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY=UPSTREAM_SECRET,
        LATCHKEY_LOG="debug",
        **(extra_env or {}),
    )
    return Server(data_dir or tmp_path / "data", args=["--s3-upstream", upstream], env=env)


@pytest.fixture
def s3srv(tmp_path, upstream):
    s = s3_server(tmp_path, upstream)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def s3(server, key=None, secret=None, token=None, **config):
    if key is None:
        key, secret = server.creds()
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=botocore.config.Config(
            retries={"max_attempts": 1}, signature_version="s3v4", s3={"addressing_style": "path"}, **config
        ),
    )


def aws_as(server, tmp_path, creds, *args, check=True, config=None):
    """The aws CLI with explicit credentials (a dict with key, secret, token)."""
    config_file = os.devnull
    if config:
        config_file = tmp_path / "aws-config"
        config_file.write_text(config)
    env = clean_env(
        AWS_ACCESS_KEY_ID=creds["key"],
        AWS_SECRET_ACCESS_KEY=creds["secret"],
        AWS_CONFIG_FILE=str(config_file),
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_DEFAULT_REGION="us-east-1",
    )
    if creds.get("token"):
        env["AWS_SESSION_TOKEN"] = creds["token"]
    aws = os.environ.get("AWS_CLI", "aws")
    out = subprocess.run([aws, "--endpoint-url", server.endpoint, *args], capture_output=True, text=True, env=env, cwd=tmp_path)
    if check and out.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
    return out


def root(server):
    key, secret = server.creds()
    return {"key": key, "secret": secret}


def test_without_an_upstream_s3_calls_say_how_to_enable_it(server):
    err = pytest.raises(Exception, s3(server).list_buckets).value
    assert err.response["Error"]["Code"] == "NotImplemented"
    assert "--s3-upstream" in err.response["Error"]["Message"]
    # STS and IAM on the same listener are unaffected.
    assert server.client("sts").get_caller_identity()["Account"]


def test_the_seed_tutorial(s3srv, tmp_path):
    """aws s3 ls denied for a user with no permissions; assume
    s3-read-only-assume-role; aws s3 ls lists the bucket; boto3's
    s3_resource.buckets.all() with the assumed credentials."""
    admin = root(s3srv)
    aws_as(s3srv, tmp_path, admin, "s3", "mb", f"s3://{BUCKET}")
    (tmp_path / "hello.txt").write_text("hello from latchkey\n")
    aws_as(s3srv, tmp_path, admin, "s3", "cp", "hello.txt", f"s3://{BUCKET}/hello.txt")

    iam = s3srv.client("iam")
    iam.create_user(UserName="test-user")
    k = iam.create_access_key(UserName="test-user")["AccessKey"]
    user = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    account = s3srv.client("sts").get_caller_identity()["Account"]

    denied = aws_as(s3srv, tmp_path, user, "s3", "ls", check=False)
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="s3-read-only-assume-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName="s3-read-only-assume-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.put_user_policy(
        UserName="test-user",
        PolicyName="assume-s3-role",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]}
        ),
    )
    out = aws_as(
        s3srv, tmp_path, user, "sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "AWSCLI-Session",
        "--output", "json",
    )
    c = json.loads(out.stdout)["Credentials"]
    assumed = {"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}

    listed = aws_as(s3srv, tmp_path, assumed, "s3", "ls")
    assert BUCKET in listed.stdout
    got = aws_as(s3srv, tmp_path, assumed, "s3", "cp", f"s3://{BUCKET}/hello.txt", "-")
    assert got.stdout == "hello from latchkey\n"

    s3_resource = boto3.resource(
        "s3",
        endpoint_url=s3srv.endpoint,
        region_name="us-east-1",
        aws_access_key_id=assumed["key"],
        aws_secret_access_key=assumed["secret"],
        aws_session_token=assumed["token"],
    )
    assert [b.name for b in s3_resource.buckets.all()] == [BUCKET]

    # Read-only: the role cannot write.
    refused = aws_as(s3srv, tmp_path, assumed, "s3", "cp", "hello.txt", f"s3://{BUCKET}/other.txt", check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr

    # The trail has the data events, denials explained.
    trail = run("audit", "export", "--data-dir", str(s3srv.data_dir)).stdout.splitlines()
    events = [json.loads(l) for l in trail]
    data = [e for e in events if e.get("eventSource") == "s3.amazonaws.com"]
    assert data and all(e["eventCategory"] == "Data" and e["managementEvent"] is False for e in data)
    gets = [e for e in data if e["eventName"] == "GetObject" and "errorCode" not in e]
    assert gets and gets[0]["requestParameters"]["bucketName"] == BUCKET
    assert {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/hello.txt", "accountId": account} in gets[0]["resources"]
    denials = [e for e in data if e.get("errorCode") == "AccessDenied"]
    assert any("latchkeyDenial" in e.get("additionalEventData", {}) for e in denials)

    # The upstream's key reaches no log line and no audit record.
    time.sleep(0.2)
    for text in ["\n".join(s3srv.lines), "\n".join(trail)]:
        assert UPSTREAM_SECRET not in text
        assert UPSTREAM_KEY not in text


def test_multipart_upload_and_download_round_trip(s3srv, tmp_path):
    admin = root(s3srv)
    aws_as(s3srv, tmp_path, admin, "s3", "mb", "s3://big-objects")
    data = os.urandom(20 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(data)
    aws_as(s3srv, tmp_path, admin, "s3", "cp", "big.bin", "s3://big-objects/dir/big.bin")
    aws_as(s3srv, tmp_path, admin, "s3", "cp", "s3://big-objects/dir/big.bin", "back.bin")
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
    listed = aws_as(s3srv, tmp_path, admin, "s3", "ls", "s3://big-objects/dir/")
    assert "big.bin" in listed.stdout


def test_presigned_urls_work_until_they_expire(s3srv, tmp_path):
    admin = root(s3srv)
    client = s3(s3srv)
    client.create_bucket(Bucket="presigned")
    client.put_object(Bucket="presigned", Key="a b+c.txt", Body=b"presigned body")
    # The aws CLI v1 presigns with SigV2 unless told otherwise.
    v4 = "[default]\ns3 =\n    signature_version = s3v4\n"
    url = aws_as(s3srv, tmp_path, admin, "s3", "presign", "s3://presigned/a b+c.txt", "--expires-in", "60", config=v4).stdout.strip()
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned body"
    # As the aws CLI v1 presigns by default: Signature Version 2.
    url = aws_as(s3srv, tmp_path, admin, "s3", "presign", "s3://presigned/a b+c.txt", "--expires-in", "60").stdout.strip()
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned body"
    # A subresource SigV2 does not sign cannot be slipped into its URL.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url + "&attributes")
    assert e.value.code == 403
    short = client.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "a b+c.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(short)
    assert e.value.code == 403
    body = e.value.read().decode()
    assert "<Code>AccessDenied</Code>" in body and "Request has expired" in body


def test_listbucket_with_a_prefix_condition(s3srv):
    """The S3 User Guide's example: a user may list only its own prefix."""
    admin = s3(s3srv)
    admin.create_bucket(Bucket="home-dirs")
    for key in ["home/alice/a.txt", "home/bob/b.txt"]:
        admin.put_object(Bucket="home-dirs", Key=key, Body=b"x")
    iam = s3srv.client("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="own-prefix",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::home-dirs",
                "Condition": {"StringLike": {"s3:prefix": ["home/alice/*"]}},
            }],
        }),
    )
    k = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = s3(s3srv, k["AccessKeyId"], k["SecretAccessKey"])
    keys = [o["Key"] for o in alice.list_objects_v2(Bucket="home-dirs", Prefix="home/alice/")["Contents"]]
    assert keys == ["home/alice/a.txt"]
    for prefix in ["home/bob/", ""]:
        err = pytest.raises(Exception, alice.list_objects_v2, Bucket="home-dirs", Prefix=prefix).value
        assert err.response["Error"]["Code"] == "AccessDenied"
    # Object reads need s3:GetObject on the object ARN, which alice lacks.
    err = pytest.raises(Exception, alice.get_object, Bucket="home-dirs", Key="home/alice/a.txt").value
    assert err.response["Error"]["Code"] == "AccessDenied"


def test_bucket_policies_grant_deny_and_are_checked(s3srv):
    admin = s3(s3srv)
    admin.create_bucket(Bucket="shared-data")
    admin.put_object(Bucket="shared-data", Key="public/p.txt", Body=b"p")
    admin.put_object(Bucket="shared-data", Key="secret/s.txt", Body=b"s")
    iam = s3srv.client("iam")
    user = iam.create_user(UserName="reader")["User"]
    k = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = s3(s3srv, k["AccessKeyId"], k["SecretAccessKey"])
    # No identity policy and no bucket policy: denied.
    err = pytest.raises(Exception, reader.get_object, Bucket="shared-data", Key="public/p.txt").value
    assert err.response["Error"]["Code"] == "AccessDenied"

    with pytest.raises(Exception) as e:
        admin.get_bucket_policy(Bucket="shared-data")
    assert e.value.response["Error"]["Code"] == "NoSuchBucketPolicy"

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-data/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-data/secret/*"},
        ],
    }
    admin.put_bucket_policy(Bucket="shared-data", Policy=json.dumps(policy))
    # Same account: the bucket policy naming the user allows on its own.
    assert reader.get_object(Bucket="shared-data", Key="public/p.txt")["Body"].read() == b"p"
    # An explicit deny wins, also over the root user's implicit allow.
    for client in [reader, admin]:
        err = pytest.raises(Exception, client.get_object, Bucket="shared-data", Key="secret/s.txt").value
        assert err.response["Error"]["Code"] == "AccessDenied"
    assert json.loads(admin.get_bucket_policy(Bucket="shared-data")["Policy"])["Statement"][0]["Action"] == "s3:GetObject"

    # A policy naming another bucket is refused with S3's message.
    other = dict(policy, Statement=[dict(policy["Statement"][0], Resource="arn:aws:s3:::some-other-bucket/*")])
    err = pytest.raises(Exception, admin.put_bucket_policy, Bucket="shared-data", Policy=json.dumps(other)).value
    assert err.response["Error"]["Code"] == "MalformedPolicy"
    assert err.response["Error"]["Message"] == "Policy has invalid resource"

    admin.delete_bucket_policy(Bucket="shared-data")
    err = pytest.raises(Exception, reader.get_object, Bucket="shared-data", Key="public/p.txt").value
    assert err.response["Error"]["Code"] == "AccessDenied"


def test_list_buckets_shows_only_the_callers_account(s3srv):
    admin = s3(s3srv)
    admin.create_bucket(Bucket="mine-1")
    # A second account of the organization, reached through the role
    # Organizations makes in it.
    org = s3srv.client("organizations")
    member = org.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]["AccountId"]
    iam = s3srv.client("iam")
    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    sts = s3srv.client("sts", k["AccessKeyId"], k["SecretAccessKey"])
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="member-admin")["Credentials"]
    other = s3(s3srv, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    other.create_bucket(Bucket="theirs-1")
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == ["theirs-1"]
    assert "theirs-1" not in [b["Name"] for b in admin.list_buckets()["Buckets"]]
    # Names are global: the member cannot take the management account's.
    err = pytest.raises(Exception, other.create_bucket, Bucket="mine-1").value
    assert err.response["Error"]["Code"] == "BucketAlreadyExists"
    # Without a bucket policy, another account's bucket is closed, even to
    # an administrator of the caller's own account.
    err = pytest.raises(Exception, other.list_objects_v2, Bucket="mine-1").value
    assert err.response["Error"]["Code"] == "AccessDenied"
    # A bucket policy grants the other account one bucket: cross-account
    # needs the bucket policy and the caller's identity policy (the
    # member's role has AdministratorAccess).
    admin.put_bucket_policy(
        Bucket="mine-1",
        Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"}, "Action": "s3:ListBucket",
                           "Resource": "arn:aws:s3:::mine-1"}],
        }),
    )
    assert other.list_objects_v2(Bucket="mine-1")["KeyCount"] == 0


def test_bad_input_is_refused_before_the_upstream(s3srv):
    admin = s3(s3srv)
    admin.create_bucket(Bucket="inputs")
    # A key with a `..` segment.
    err = pytest.raises(Exception, admin.put_object, Bucket="inputs", Key="a/../b", Body=b"x").value
    assert err.response["Error"]["Code"] == "InvalidArgument"
    # A signed payload hash that does not match the body.
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    key, secret = s3srv.creds()
    url = f"{s3srv.endpoint}/inputs/hash.txt"
    # Signed over another body of the same length.
    req = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=b"the fake body")
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(key, secret), "s3", "us-east-1").add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(url, data=b"the real body", method="PUT", headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r)
    assert e.value.code == 400
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in e.value.read().decode()
    err = pytest.raises(Exception, admin.head_object, Bucket="inputs", Key="hash.txt").value
    assert err.response["Error"]["Code"] == "404"
    # A body without a length (HTTP chunked transfer coding): S3's 411.
    put_url = admin.generate_presigned_url("put_object", Params={"Bucket": "inputs", "Key": "nolength.txt"}, ExpiresIn=60)
    u = urllib.parse.urlparse(put_url)
    # The whole request in one write: latchkey answers before reading the
    # body, and a client still sending would see its pipe broken.
    raw = (
        f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "9\r\npart one \r\n8\r\npart two\r\n0\r\n\r\n"
    ).encode()
    with socket.create_connection((u.hostname, u.port), timeout=30) as sock:
        sock.sendall(raw)
        reply = b""
        while b"</Error>" not in reply:
            piece = sock.recv(65536)
            if not piece:
                break
            reply += piece
    assert reply.startswith(b"HTTP/1.1 411") and b"<Code>MissingContentLength</Code>" in reply, reply
    # SigV2, as old clients sign headers, is checked like SigV4.
    v2 = boto3.client("s3", endpoint_url=s3srv.endpoint, region_name="us-east-1", aws_access_key_id=key,
                      aws_secret_access_key=secret, config=botocore.config.Config(signature_version="s3", retries={"max_attempts": 1}))
    assert v2.list_objects(Bucket="inputs")["Name"] == "inputs"
    bad = boto3.client("s3", endpoint_url=s3srv.endpoint, region_name="us-east-1", aws_access_key_id=key,
                       aws_secret_access_key="wrong" + secret, config=botocore.config.Config(signature_version="s3", retries={"max_attempts": 1}))
    err = pytest.raises(Exception, bad.list_objects, Bucket="inputs").value
    assert err.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_the_readme_tutorial_runs_as_written(tmp_path, empty_upstream):
    """README.md's "The tutorial, on latchkey", its steps run by bash as
    written, against a server whose data dir is the one they name."""
    import re

    readme = (REPO / "README.md").read_text()
    section = re.search(r"^## The tutorial, on latchkey\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 3, "the section has the upstream, the server and the steps"
    assert "--s3-upstream" in blocks[1]
    s = s3_server(tmp_path, empty_upstream, data_dir=tmp_path / "latchkey-data")
    try:
        script = blocks[2].replace("E=http://127.0.0.1:7300", f"E={s.endpoint}")
        assert script != blocks[2]
        env = clean_env(PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
        assert "AccessDenied" in out.stderr, out.stderr
        assert f"['{BUCKET}']" in out.stdout, out.stdout + out.stderr
        # `aws s3 ls` as the role: one line, date and name.
        listed = [l for l in out.stdout.splitlines() if re.match(r"\d{4}-\d\d-\d\d .*" + BUCKET + "$", l)]
        assert len(listed) == 1, out.stdout
    finally:
        s.proc.kill()
        s.proc.wait()


def chunked_put(endpoint, ak, sk, bucket, key, data, mode, chunk=64 * 1024, forge=None, bad_crc=False, cut=0):
    """An aws-chunked PUT, encoded by hand as AWS's "Signature Calculations
    for the Authorization Header: Transferring Payload in Multiple Chunks"
    describes (botocore sends these only over HTTPS). `forge` is the index of
    a chunk whose signature is replaced; `cut` drops bytes from the end."""
    import base64
    import datetime
    import hmac
    import http.client
    import urllib.parse
    import zlib

    def h(b):
        return hashlib.sha256(b).hexdigest()

    def mac(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()

    u = urllib.parse.urlparse(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    amzdate, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{date}/us-east-1/s3/aws4_request"
    ksig = mac(mac(mac(mac(("AWS4" + sk).encode(), date), "us-east-1"), "s3"), "aws4_request")
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    tag = {"signed": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}[mode]
    hdrs = {"host": u.netloc, "x-amz-date": amzdate, "x-amz-content-sha256": tag,
            "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if mode == "unsigned-trailer":
        hdrs["x-amz-trailer"] = "x-amz-checksum-crc32"
    path = f"/{bucket}/{urllib.parse.quote(key)}"

    def body(seed):
        out, prev = b"", seed
        for i, c in enumerate(chunks):
            if mode == "signed":
                sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amzdate, scope, prev, h(b""), h(c)])
                sig = hmac.new(ksig, sts.encode(), hashlib.sha256).hexdigest()
                if forge == i:
                    sig = "0" * 64
                prev = sig
                out += f"{len(c):x};chunk-signature={sig}\r\n".encode() + c + b"\r\n"
            else:
                out += f"{len(c):x}\r\n".encode() + c + (b"\r\n" if c else b"")
        if mode == "unsigned-trailer":
            crc = zlib.crc32(data) ^ (1 if bad_crc else 0)
            out += f"x-amz-checksum-crc32:{base64.b64encode(crc.to_bytes(4, 'big')).decode()}\r\n\r\n".encode()
        return out[: len(out) - cut]

    hdrs["content-length"] = str(len(body("0" * 64)))
    names = sorted(hdrs)
    creq = "\n".join(["PUT", path, "", "".join(f"{n}:{hdrs[n]}\n" for n in names), ";".join(names), tag])
    seed = hmac.new(ksig, "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, h(creq.encode())]).encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={';'.join(names)}, Signature={seed}"
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request("PUT", path, body=body(seed), headers={**hdrs, "Authorization": auth})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    except (ConnectionError, http.client.HTTPException) as e:
        return None, str(e)
    finally:
        c.close()


def test_aws_chunked_uploads_are_checked_chunk_by_chunk(s3srv):
    admin = s3(s3srv)
    admin.create_bucket(Bucket="chunked")
    key, secret = s3srv.creds()
    data = bytes(range(256)) * 800  # four 64 KiB chunks and a short one

    status, _ = chunked_put(s3srv.endpoint, key, secret, "chunked", "signed.bin", data, "signed")
    assert status == 200
    assert admin.get_object(Bucket="chunked", Key="signed.bin")["Body"].read() == data
    status, _ = chunked_put(s3srv.endpoint, key, secret, "chunked", "trailer.bin", data, "unsigned-trailer")
    assert status == 200
    assert admin.get_object(Bucket="chunked", Key="trailer.bin")["Body"].read() == data

    # A forged chunk signature, a wrong trailing checksum, a truncated body:
    # S3's error, and nothing stored upstream.
    for name, kw, code in [
        ("forged.bin", dict(mode="signed", forge=2), "SignatureDoesNotMatch"),
        ("forged-last.bin", dict(mode="signed", forge=4), "SignatureDoesNotMatch"),
        ("badcrc.bin", dict(mode="unsigned-trailer", bad_crc=True), "BadDigest"),
    ]:
        status, body = chunked_put(s3srv.endpoint, key, secret, "chunked", name, data, **kw)
        assert status in (400, 403) and f"<Code>{code}</Code>" in body, (name, status, body)
        err = pytest.raises(Exception, admin.head_object, Bucket="chunked", Key=name).value
        assert err.response["Error"]["Code"] == "404", name
    # A body cut short: the connection ends before the final chunk.
    chunked_put(s3srv.endpoint, key, secret, "chunked", "cut.bin", data, "signed", cut=100)
    time.sleep(0.5)
    err = pytest.raises(Exception, admin.head_object, Bucket="chunked", Key="cut.bin").value
    assert err.response["Error"]["Code"] == "404"


def test_settings_from_a_file_and_a_missing_upstream_key(tmp_path, upstream):
    config = tmp_path / "latchkey.toml"
    config.write_text(
        f's3_upstream = "{upstream}"\n'
        f's3_upstream_access_key_id = "{UPSTREAM_KEY}"\n'
        f's3_upstream_secret_access_key = "{UPSTREAM_SECRET}"\n'
    )
    s = Server(tmp_path / "data", args=["--config", str(config)])
    try:
        s3(s).create_bucket(Bucket="from-file")
        assert "from-file" in [b["Name"] for b in s3(s).list_buckets()["Buckets"]]
    finally:
        s.proc.kill()
        s.proc.wait()
    # An upstream without its key is refused at start, naming what is missing.
    out = run("serve", "--data-dir", str(tmp_path / "data2"), "--listen", "127.0.0.1:0", "--s3-upstream", upstream, check=False, timeout=30)
    assert out.returncode != 0
    assert "LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID" in out.stderr


def test_anonymous_reads_need_a_bucket_policy_naming_everyone(s3srv):
    """The S3 User Guide's "Granting read-only permission to a public
    anonymous user": unsigned requests are allowed only by a bucket policy
    with "Principal": "*", and only for what it names."""
    admin = s3(s3srv)
    admin.create_bucket(Bucket="public-site")
    admin.put_object(Bucket="public-site", Key="index.html", Body=b"<h1>hi</h1>")
    url = f"{s3srv.endpoint}/public-site/index.html"

    def anonymous(method="GET", path="/public-site/index.html", data=None):
        req = urllib.request.Request(f"{s3srv.endpoint}{path}", method=method, data=data)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    status, body = anonymous()
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    admin.put_bucket_policy(
        Bucket="public-site",
        Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                           "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": ["arn:aws:s3:::public-site/*"]}],
        }),
    )
    assert anonymous() == (200, b"<h1>hi</h1>")
    assert urllib.request.urlopen(url).headers["x-amz-request-id"]
    # Only what the policy names: no listing, no writes.
    assert anonymous(path="/public-site")[0] == 403
    assert anonymous("PUT", "/public-site/defaced.html", b"x")[0] == 403
    # latchkey's own paths stay latchkey's.
    with urllib.request.urlopen(f"{s3srv.endpoint}/healthz") as r:
        assert r.read() == b"ok\n"
