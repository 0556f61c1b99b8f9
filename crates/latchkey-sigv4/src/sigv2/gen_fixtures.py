"""Prints the botocore SigV2 fixtures as JSON (see tests.rs; emit_fixtures.py
turns that JSON, read from fx.json, into the BOTOCORE table)."""
import time, json
from unittest import mock
import boto3, botocore
from botocore.config import Config
from urllib.parse import urlsplit

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEBYaDk+token/with+slash=="

def client(addressing, token=None):
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id=AK,
        aws_secret_access_key=SK, aws_session_token=token,
        endpoint_url=None,
        config=Config(signature_version="s3", s3={"addressing_style": addressing}))

out = []
import logging
STS = []
class H(logging.Handler):
    def emit(self, rec):
        if rec.msg.startswith('StringToSign'):
            STS.append(rec.args[0] if isinstance(rec.args, tuple) else rec.args)
lg = logging.getLogger('botocore.auth'); lg.setLevel(logging.DEBUG); lg.addHandler(H())
class Stop(Exception): pass

with mock.patch("time.time", return_value=NOW):
    # presigned
    for addressing in ["path", "virtual"]:
        for name, op, params, token in [
            ("get_plain", "get_object", {"Bucket": "examplebucket", "Key": "photos/puppy.jpg"}, None),
            ("get_space_plus_unicode", "get_object", {"Bucket": "examplebucket", "Key": "a b+c/é ü~!$&'()*,;=:@.txt"}, None),
            ("get_response_ct", "get_object", {"Bucket": "examplebucket", "Key": "k", "ResponseContentType": "text/plain; charset=utf-8", "ResponseContentDisposition": "attachment; filename=\"a b.txt\""}, None),
            ("get_version", "get_object", {"Bucket": "examplebucket", "Key": "k", "VersionId": "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}, None),
            ("put_ct_md5", "put_object", {"Bucket": "examplebucket", "Key": "up load.bin", "ContentType": "application/octet-stream", "ContentMD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "Metadata": {"Foo": " bar "}}, None),
            ("upload_part", "upload_part", {"Bucket": "examplebucket", "Key": "big", "UploadId": "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", "PartNumber": 1}, None),
            ("get_acl", "get_object_acl", {"Bucket": "examplebucket", "Key": "k"}, None),
            ("create_mpu", "create_multipart_upload", {"Bucket": "examplebucket", "Key": "big"}, None),
            ("get_token", "get_object", {"Bucket": "examplebucket", "Key": "k"}, TOKEN),
            ("list_bucket", "list_objects", {"Bucket": "examplebucket", "Prefix": "a b"}, None),
        ]:
            c = client(addressing, token)
            url = c.generate_presigned_url(op, Params=params, ExpiresIn=3600)
            p = urlsplit(url)
            out.append({"kind": "query", "name": f"{name}_{addressing}", "method": "PUT" if op.startswith(("put", "upload")) else ("POST" if op == "create_multipart_upload" else "GET"),
                        "host": p.netloc, "path": p.path, "query": p.query, "addressing": addressing, "sts": STS[-1]})

    # header-signed
    for addressing in ["path", "virtual"]:
        for name, op, params, token in [
            ("get_plain", "get_object", {"Bucket": "examplebucket", "Key": "photos/puppy.jpg"}, None),
            ("get_space_plus_unicode", "get_object", {"Bucket": "examplebucket", "Key": "a b+c/é ü.txt"}, None),
            ("put_meta", "put_object", {"Bucket": "examplebucket", "Key": "k", "Body": b"hello", "ContentType": "text/plain", "Metadata": {"Foo": "bar", "a": "b"}}, None),
            ("upload_part", "upload_part", {"Bucket": "examplebucket", "Key": "big", "UploadId": "abc+def/ghi=", "PartNumber": 2, "Body": b"x"}, None),
            ("put_acl", "put_object_acl", {"Bucket": "examplebucket", "Key": "k", "ACL": "public-read"}, None),
            ("list_token", "list_objects", {"Bucket": "examplebucket"}, TOKEN),
            ("delete_objects", "delete_objects", {"Bucket": "examplebucket", "Delete": {"Objects": [{"Key": "a"}]}}, None),
        ]:
            c = client(addressing, token)
            cap = {}
            def before_send(request, **kw):
                cap["r"] = request
                raise Stop()
            c.meta.events.register("before-send.s3", before_send)
            try:
                getattr(c, op)(**params)
            except Stop:
                pass
            r = cap["r"]
            p = urlsplit(r.url)
            headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in r.headers.items()]
            body = r.body
            if hasattr(body, "read"): body = body.read()
            if isinstance(body, str): body = body.encode()
            out.append({"kind": "header", "name": f"{name}_{addressing}", "method": r.method, "host": p.netloc, "path": p.path, "query": p.query, "headers": headers, "addressing": addressing, "body_len": len(body or b""), "sts": STS[-1]})

print(json.dumps(out, indent=1, ensure_ascii=False))
