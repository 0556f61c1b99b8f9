"""What a signature must cover and where it may be scoped (issue 14):
bodies signed by their hash outside S3, and credential scopes naming a real
region. Raw HTTP signed with botocore, and boto3 clients."""

import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import Server, clean_env, run

GCI = b"Action=GetCallerIdentity&Version=2011-06-15"
GST = b"Action=GetSessionToken&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def send(method, url, body=None, headers=None):
    r = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def code_of(text):
    return text.split("<Code>")[1].split("</Code>")[0]


def message_of(text):
    return text.split("<Message>")[1].split("</Message>")[0]


MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")


# --- payload hashes ----------------------------------------------------------

def test_a_header_signed_body_cannot_be_swapped(server):
    """A captured GetCallerIdentity POST signed over UNSIGNED-PAYLOAD must not
    turn into GetSessionToken (credentials) when replayed with another body."""
    key, secret = server.creds()
    req = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=GCI,
                                         headers={"Content-Type": FORM})
    req.context["payload_signing_enabled"] = False
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "sts", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"

    status, text = send("POST", server.endpoint + "/", GST, headers)
    assert "<Credentials>" not in text
    assert (status, code_of(text), message_of(text)) == (403, "SignatureDoesNotMatch", MISMATCH)
    # STS computes the body's hash itself: the untouched request is refused too.
    status, text = send("POST", server.endpoint + "/", GCI, headers)
    assert (status, code_of(text)) == (403, "SignatureDoesNotMatch")

    # The same call with its body signed works.
    req = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=GCI,
                                         headers={"Content-Type": FORM})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "sts", "us-east-1").add_auth(req)
    status, text = send("POST", server.endpoint + "/", GCI, dict(req.headers.items()))
    assert status == 200 and "<GetCallerIdentityResult>" in text


def presign_unsigned_payload(server, method, query):
    """A presigned URL signed over UNSIGNED-PAYLOAD, as S3-style presigners
    make them."""
    key, secret = server.creds()
    req = botocore.awsrequest.AWSRequest(method=method, url=f"{server.endpoint}/?{query}")
    auth = botocore.auth.S3SigV4QueryAuth(botocore.credentials.Credentials(key, secret), "sts", "us-east-1", expires=300)
    auth.add_auth(req)
    return req.url


def test_presigned_urls_work_without_a_body_and_refuse_one(server):
    # What botocore's presigner makes (an EKS token is such a URL).
    url = server.client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    status, text = send("GET", url)
    assert status == 200 and "<GetCallerIdentityResult>" in text

    url = presign_unsigned_payload(server, "GET", "Action=GetCallerIdentity&Version=2011-06-15")
    status, text = send("GET", url)
    assert status == 200 and "<GetCallerIdentityResult>" in text

    # A POST of a presigned URL reads the form body after the query, so a
    # body could carry parameters the signature never covered.
    url = presign_unsigned_payload(server, "POST", "Action=GetCallerIdentity&Version=2011-06-15")
    status, text = send("POST", url, b"", {"Content-Type": FORM})
    assert status == 200 and "<GetCallerIdentityResult>" in text
    status, text = send("POST", url, GST, {"Content-Type": FORM})
    assert "<Credentials>" not in text
    assert (status, code_of(text), message_of(text)) == (403, "SignatureDoesNotMatch", MISMATCH)


# --- regions -----------------------------------------------------------------

def client_in(server, region, service="sts", key=None, secret=None):
    if key is None:
        key, secret = server.creds()
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))


def test_regions_outside_aws_are_refused(server):
    with pytest.raises(ClientError) as e:
        client_in(server, "xx-fake-9").get_caller_identity()
    err = e.value.response["Error"]
    assert (err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("SignatureDoesNotMatch", 403)
    assert err["Message"] == "Credential should be scoped to a valid region. "
    # Reported before the key is looked at: an unknown key gets the same answer.
    with pytest.raises(ClientError) as e:
        client_in(server, "xx-fake-9", key="AKIAIOSFODNN7EXAMPLE", secret="x" * 40).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # IAM and the JSON services too.
    with pytest.raises(ClientError) as e:
        client_in(server, "xx-fake-9", "iam").list_users()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        client_in(server, "xx-fake-9", "organizations").describe_organization()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"

    for region in ("us-east-1", "eu-central-1", "cn-north-1", "us-gov-west-1", "aws-global"):
        assert client_in(server, region).get_caller_identity()["Arn"].endswith(":root"), region
    client_in(server, "eu-central-1", "iam").list_users()


def test_extra_regions_from_the_flag_the_environment_and_the_file(tmp_path):
    s = Server(tmp_path / "flag", args=["--extra-regions", "local-1, dc-2"])
    try:
        client_in(s, "local-1").get_caller_identity()
        client_in(s, "dc-2").get_caller_identity()
        client_in(s, "eu-central-1").get_caller_identity()
        with pytest.raises(ClientError) as e:
            client_in(s, "xx-fake-9").get_caller_identity()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    finally:
        s.stop()

    s = Server(tmp_path / "env", env=clean_env(LATCHKEY_EXTRA_REGIONS="on-prem-7"))
    try:
        client_in(s, "on-prem-7").get_caller_identity()
        with pytest.raises(ClientError):
            client_in(s, "local-1").get_caller_identity()
    finally:
        s.stop()

    cfg = tmp_path / "latchkey.toml"
    cfg.write_text('extra_regions = ["lab-1"]\n')
    s = Server(tmp_path / "file", args=["--config", str(cfg)])
    try:
        client_in(s, "lab-1").get_caller_identity()
    finally:
        s.stop()

    # A name that cannot be a region is refused at start, not ignored.
    out = run("serve", "--data-dir", str(tmp_path / "bad"), "--listen", "127.0.0.1:0",
              "--extra-regions", "ok-1,not/a/region", check=False, timeout=10)
    assert out.returncode != 0 and "not/a/region" in out.stderr


def test_json_services_name_authentication_failures_their_own_way(server):
    """awsJson services (Organizations, CloudTrail) answer an unknown key
    with UnrecognizedClientException, a wrong signature with
    InvalidSignatureException, an expired session with
    ExpiredTokenException, each with 400; awsQuery services keep
    InvalidClientTokenId / SignatureDoesNotMatch with 403."""
    key, _ = server.creds()
    cases = [
        (dict(key="AKIAIOSFODNN7EXAMPLE", secret="x" * 40), "UnrecognizedClientException", "InvalidClientTokenId"),
        (dict(key=key, secret="wrong-secret"), "InvalidSignatureException", "SignatureDoesNotMatch"),
    ]
    for creds, json_code, query_code in cases:
        for service, call in (("organizations", lambda c: c.describe_organization()),
                              ("cloudtrail", lambda c: c.lookup_events())):
            with pytest.raises(ClientError) as e:
                call(client_in(server, "us-east-1", service, **creds))
            assert e.value.response["Error"]["Code"] == json_code, service
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, service
        with pytest.raises(ClientError) as e:
            client_in(server, "us-east-1", "sts", **creds).get_caller_identity()
        assert e.value.response["Error"]["Code"] == query_code
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
