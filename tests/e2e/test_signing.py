"""What a signature must cover (issue 14): bodies signed by their hash
outside S3. Raw HTTP signed with botocore."""

import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials

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
