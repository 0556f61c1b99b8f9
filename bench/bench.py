#!/usr/bin/env python3
"""Helpers for bench/load.sh: seed entities, pre-sign requests for wrk,
bulk-load roles into latchkey's SQLite or PostgreSQL store, drive IAM writes
(`writes`, `create-roles`, `follow`), and summarise results.

Run with the interpreter of bench/.venv (botocore is needed for `setup`,
`sign` and the write drivers; the other subcommands use the standard library
only).
"""

import argparse
import http.client
import json
import math
import multiprocessing
import queue
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.parse

REGION = "us-east-1"
USER = "bench"
ROLE = "bench-role"
FILLER_ROLES = 9  # with bench-role: the "10-role" baseline


def trust_policy(user_arn):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}],
        },
        separators=(",", ":"),
    )


ROLE_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
    separators=(",", ":"),
)


# --------------------------------------------------------------------------- setup

def cmd_setup(a):
    import boto3

    def client(service, key, secret):
        return boto3.client(
            service,
            endpoint_url=a.endpoint,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    iam = client("iam", a.access_key, a.secret_key)
    sts = client("sts", a.access_key, a.secret_key)
    account = sts.get_caller_identity()["Account"]
    user = iam.create_user(UserName=USER)["User"]
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust_policy(user["Arn"]))["Role"]
    iam.put_role_policy(RoleName=ROLE, PolicyName="bench-inline", PolicyDocument=ROLE_POLICY)
    for i in range(a.fill_roles):
        iam.create_role(RoleName=f"filler-{i:06d}", AssumeRolePolicyDocument=trust_policy(user["Arn"]))

    # The user's key must work before anything is measured with it.
    user_sts = client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    me = user_sts.get_caller_identity()
    assert me["Arn"] == user["Arn"], me
    got = user_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bench")
    assert got["Credentials"]["AccessKeyId"], got

    state = {
        "endpoint": a.endpoint,
        "account": account,
        "user_arn": user["Arn"],
        "access_key": key["AccessKeyId"],
        "secret_key": key["SecretAccessKey"],
        "role_arn": role["Arn"],
        "roles": 1 + a.fill_roles,
    }
    with open(a.out, "w") as f:
        json.dump(state, f, indent=1)
    print(f"seeded {a.endpoint}: account {account}, user {user['Arn']}, {1 + a.fill_roles} roles", file=sys.stderr)


# --------------------------------------------------------------------------- sign

# Prints wrk's summary as one JSON line, which `record` reads.
WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_str(s):
    level = "=" * 4
    assert f"]{level}]" not in s
    return f"[{level}[{s}]{level}]"


def cmd_sign(a):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with open(a.state) as f:
        st = json.load(f)
    if a.action == "AssumeRole":
        params = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": st["role_arn"], "RoleSessionName": "bench"}
    else:
        params = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    body = urllib.parse.urlencode(params)
    url = (a.endpoint or st["endpoint"]).rstrip("/") + "/"
    req = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(st["access_key"], st["secret_key"]), "sts", REGION).add_auth(req)
    headers = {k: v for k, v in req.headers.items()}
    headers["Host"] = urllib.parse.urlsplit(url).netloc  # what was signed
    if a.connection_close:
        headers["Connection"] = "close"  # not signed; hop-by-hop

    # One replay before the load: the pre-signed request must succeed.
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("POST", "/", body=body.encode(), headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    want = f"<{a.action}Result>"
    if resp.status != 200 or want not in text:
        sys.exit(f"pre-signed {a.action} to {url} failed: HTTP {resp.status}\n{text[:2000]}")

    lines = [
        "-- generated by bench/bench.py sign; the signature is valid for 15 minutes",
        'wrk.method = "POST"',
        f"wrk.body = {lua_str(body)}",
        "wrk.headers = {}",
    ]
    for k, v in headers.items():
        lines.append(f"wrk.headers[ {lua_str(k)} ] = {lua_str(v)}")
    if a.delay_ms:
        lines.append(f"function delay() return {int(a.delay_ms)} end")
    lines.append(WRK_DONE)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- S3 (--s3)

S3_BUCKET = "latchkey-bench"
S3_OBJECTS = {"4KiB": 4096, "1MiB": 1024 * 1024}  # key suffix -> size


def s3_key(name):
    return f"bench-{name}"


def s3_client(endpoint, key, secret):
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(
            retries={"max_attempts": 1}, signature_version="s3v4", s3={"addressing_style": "path"}
        ),
    )


def s3_presign(endpoint, bucket, key, access_key, secret_key, expires):
    """A SigV4 presigned GET (query auth, UNSIGNED-PAYLOAD): replayable until
    it expires, so wrk can send the same request over and over."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="GET", url=f"{endpoint.rstrip('/')}/{bucket}/{key}")
    S3SigV4QueryAuth(Credentials(access_key, secret_key), "s3", REGION, expires=expires).add_auth(req)
    return req.url


def http_get(url, headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def cmd_s3_setup(a):
    """Through latchkey, as the account root: the bucket (so latchkey records
    its owner) and one object per size; the bench user gets an inline policy
    allowing s3:GetObject on the bucket's objects. Then each object is read
    back presigned, through latchkey with the user's key and straight from the
    upstream with its own key, and must match."""
    import os

    with open(a.state) as f:
        st = json.load(f)
    root = s3_client(a.endpoint, a.access_key, a.secret_key)
    root.create_bucket(Bucket=S3_BUCKET)
    import boto3

    iam = boto3.client("iam", endpoint_url=a.endpoint, region_name=REGION,
                       aws_access_key_id=a.access_key, aws_secret_access_key=a.secret_key)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{S3_BUCKET}/*"}]}
    iam.put_user_policy(UserName=USER, PolicyName="bench-s3-read", PolicyDocument=json.dumps(policy))
    for name, size in S3_OBJECTS.items():
        data = os.urandom(size)
        root.put_object(Bucket=S3_BUCKET, Key=s3_key(name), Body=data)
        for label, endpoint, ak, sk in (
            ("latchkey", a.endpoint, st["access_key"], st["secret_key"]),
            ("upstream", a.upstream, a.upstream_access_key, a.upstream_secret_key),
        ):
            status, body = http_get(s3_presign(endpoint, S3_BUCKET, s3_key(name), ak, sk, 900))
            if status != 200 or body != data:
                sys.exit(f"GetObject {name} from {label} ({endpoint}): HTTP {status}, {len(body)} bytes "
                         f"(want {size}){' ' + body[:500].decode(errors='replace') if status != 200 else ''}")
    st["s3"] = {
        "bucket": S3_BUCKET,
        "objects": S3_OBJECTS,
        "latchkey": {"endpoint": a.endpoint, "access_key": st["access_key"], "secret_key": st["secret_key"]},
        "upstream": {"endpoint": a.upstream, "access_key": a.upstream_access_key, "secret_key": a.upstream_secret_key},
    }
    with open(a.state, "w") as f:
        json.dump(st, f, indent=1)
    print(f"S3: bucket {S3_BUCKET} with {', '.join(S3_OBJECTS)} objects, created through {a.endpoint}, "
          f"stored in {a.upstream}; {USER} may GetObject", file=sys.stderr)


def cmd_s3_sign(a):
    """Presigns one GetObject for wrk (the user's key for latchkey, the
    upstream's own key for the upstream), checks that one replay returns the
    whole object, writes the wrk Lua script."""
    with open(a.state) as f:
        s3 = json.load(f)["s3"]
    who = s3[a.target]
    endpoint = a.endpoint or who["endpoint"]
    size = s3["objects"][a.object]
    url = s3_presign(endpoint, s3["bucket"], s3_key(a.object), who["access_key"], who["secret_key"], a.expires)
    status, body = http_get(url)
    if status != 200 or len(body) != size:
        sys.exit(f"presigned GetObject {a.object} to {endpoint} failed: HTTP {status}, {len(body)} bytes\n"
                 f"{body[:2000].decode(errors='replace')}")
    u = urllib.parse.urlsplit(url)
    lines = [
        f"-- generated by bench/bench.py s3-sign; the presigned URL is valid for {a.expires} s",
        'wrk.method = "GET"',
        f"wrk.path = {lua_str(u.path + '?' + u.query)}",
        "wrk.headers = {}",
    ]
    if a.connection_close:
        lines.append('wrk.headers["Connection"] = "close"')
    lines.append(WRK_DONE)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- load-roles

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def role_id():
    return "AROA" + "".join(B32[b % 32] for b in secrets.token_bytes(17))


ROLE_COLUMNS = ("id, account_id, name, name_lower, path, trust_policy, description,"
                " max_session_duration, permissions_boundary, created, trust_principals")


def bulk_role_rows(st, user_id, count):
    """Rows for `roles` as CreateRole would write them: the trust policy names
    the bench user, bound to its unique id (`trust_principals`)."""
    trust = trust_policy(st["user_arn"])
    principals = f"{st['user_arn']} {user_id}\n"
    now = int(time.time())
    rows = []
    for i in range(count):
        name = f"Bulk-Role-{i:07d}"
        rows.append((role_id(), st["account"], name, name.lower(), "/", trust, None, 3600, None, now, principals))
    return rows


def cmd_load_roles(a):
    """Adds roles until the store holds --total, plus a tag on a tenth of the
    new ones, and moves the store version on as a write would (a loaded
    snapshot records the version). The server must be stopped."""
    with open(a.state) as f:
        st = json.load(f)
    load = load_roles_postgres if a.database_url else load_roles_sqlite
    load(a, st, st["user_arn"].rsplit("/", 1)[1].lower())


def load_roles_sqlite(a, st, user_name):
    db = sqlite3.connect(a.db)
    have = db.execute("SELECT COUNT(*) FROM roles").fetchone()[0]
    want = a.total - have
    if want <= 0:
        print(f"{a.db}: already {have} roles", file=sys.stderr)
        return
    user_id = db.execute("SELECT id FROM users WHERE account_id = ? AND name_lower = ?", (st["account"], user_name)).fetchone()[0]
    t0 = time.monotonic()
    rows = bulk_role_rows(st, user_id, want)
    with db:
        db.executemany(f"INSERT INTO roles ({ROLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany(
            "INSERT INTO tags (owner_id, position, key, value) VALUES (?, 0, 'bench', 'bulk')",
            [(r[0],) for r in rows[: len(rows) // 10]],
        )
        db.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'version'")
    total = db.execute("SELECT COUNT(*) FROM roles").fetchone()[0]
    db.close()
    print(f"{a.db}: inserted {want} roles in {time.monotonic() - t0:.1f}s, now {total}", file=sys.stderr)


def psql(url, sql=None, script=None):
    """Runs one query (-c) or a script on stdin (COPY data inline) with psql;
    returns its unaligned output."""
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    if sql is not None:
        cmd += ["-c", sql]
    return subprocess.run(cmd, input=script, capture_output=True, text=True, check=True).stdout.strip()


def copy_field(v):
    """A value in COPY's text format."""
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def load_roles_postgres(a, st, user_name):
    """The same rows as load_roles_sqlite, sent with COPY in one transaction."""
    have = int(psql(a.database_url, "SELECT COUNT(*) FROM roles"))
    want = a.total - have
    if want <= 0:
        print(f"already {have} roles", file=sys.stderr)
        return
    assert re.fullmatch(r"[0-9]+", st["account"]) and re.fullmatch(r"[\w+=,.@-]+", user_name)
    user_id = psql(a.database_url, f"SELECT id FROM users WHERE account_id = '{st['account']}' AND name_lower = '{user_name}'")
    t0 = time.monotonic()
    rows = bulk_role_rows(st, user_id, want)
    lines = ["BEGIN;", f"COPY roles ({ROLE_COLUMNS}) FROM STDIN;"]
    lines += ["\t".join(copy_field(v) for v in r) for r in rows]
    lines += ["\\.", "COPY tags (owner_id, position, key, value) FROM STDIN;"]
    lines += [f"{r[0]}\t0\tbench\tbulk" for r in rows[: len(rows) // 10]]
    lines += ["\\.", "UPDATE meta SET value = (CAST(value AS BIGINT) + 1)::text WHERE key = 'version';", "COMMIT;"]
    psql(a.database_url, script="\n".join(lines) + "\n")
    total = psql(a.database_url, "SELECT COUNT(*) FROM roles")
    print(f"PostgreSQL: inserted {want} roles in {time.monotonic() - t0:.1f}s, now {total}", file=sys.stderr)


# --------------------------------------------------------------------------- write drivers
#
# `writes`, `create-roles` and `follow` send IAM calls themselves: wrk cannot,
# since every CreateRole needs a new name and so a new signature. Each request
# is signed with botocore's SigV4Auth just before it is sent; the latency is
# the time from sending it to having read the whole answer (signing excluded).

IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
WRITE_POLICY = "bench-write"
POLL_S = 0.005  # `follow`: how often node B is asked for a role it has not shown yet
UNSEEN_AFTER_S = 30.0  # `follow`: a role B has not shown by then is counted as never seen


class Client:
    """One keep-alive HTTP connection to one server, signing as one key."""

    def __init__(self, endpoint, access_key, secret_key):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        self.url = endpoint.rstrip("/") + "/"
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.netloc = u.hostname, u.port, u.netloc
        creds = Credentials(access_key, secret_key)
        self.auth = {svc: SigV4Auth(creds, svc, REGION) for svc in ("iam", "sts")}
        self.request_class = AWSRequest
        self.conn = None

    def signed_headers(self, body, service):
        req = self.request_class(
            method="POST",
            url=self.url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        self.auth[service].add_auth(req)
        headers = dict(req.headers.items())
        headers["Host"] = self.netloc  # what was signed
        return headers

    def call(self, action, params=None, service="iam"):
        """Returns (HTTP status, body, seconds from send to the end of the
        answer). Status 0: the connection failed (it is reopened next time)."""
        version = IAM_VERSION if service == "iam" else STS_VERSION
        body = urllib.parse.urlencode({"Action": action, "Version": version, **(params or {})})
        headers = self.signed_headers(body, service)
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        t0 = time.monotonic()
        try:
            self.conn.request("POST", "/", body=body.encode(), headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            return 0, repr(e).encode(), time.monotonic() - t0
        return resp.status, data, time.monotonic() - t0


def root_client(root_json, endpoint):
    """A client with the account root's key, from `latchkey init --output
    json`: the bench user has no IAM permissions."""
    with open(root_json) as f:
        root = json.load(f)
    return Client(endpoint, root["AccessKeyId"], root["SecretAccessKey"]), root["AccountId"]


def cycle_steps(name, trust):
    """The write cycle on one role. IAM refuses DeleteRole while the role
    has an inline policy (DeleteConflict; latchkey too), so the policy is
    deleted first: five writes."""
    return [
        ("CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": trust}),
        ("PutRolePolicy", {"RoleName": name, "PolicyName": WRITE_POLICY, "PolicyDocument": ROLE_POLICY}),
        ("TagRole", {"RoleName": name, "Tags.member.1.Key": "bench", "Tags.member.1.Value": "write"}),
        ("DeleteRolePolicy", {"RoleName": name, "PolicyName": WRITE_POLICY}),
        ("DeleteRole", {"RoleName": name}),
    ]


# An undo step is still sent, unmeasured, after the deadline or a failure
# when the step it undoes succeeded, so a run leaves no role behind.
UNDOES = {"DeleteRolePolicy": "PutRolePolicy", "DeleteRole": "CreateRole"}


class Tally:
    """What one process measured: latencies of successful calls by action,
    failures (the first one's answer kept for the log), and the successful
    calls it did not measure (clean-up; they cost the server CPU too)."""

    def __init__(self):
        self.lat = {}
        self.unmeasured_ok = 0
        self.errors = 0
        self.first_error = None
        self.start = time.monotonic()
        self.last_end = self.start

    def add(self, action, status, body, seconds):
        if 200 <= status < 300:
            self.lat.setdefault(action, []).append(seconds)
            self.last_end = time.monotonic()
            return True
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{action}: HTTP {status}: {body[:2000].decode(errors='replace')}"
        return False

    def add_unmeasured(self, status):
        self.unmeasured_ok += 200 <= status < 300

    def as_dict(self, **extra):
        return {"lat": self.lat, "unmeasured_ok": self.unmeasured_ok, "errors": self.errors,
                "first_error": self.first_error, "start": self.start, "last_end": self.last_end, **extra}


def run_cycle(client, name, trust, deadline, tally):
    """One write cycle. After the deadline, or once a step failed, only the
    undo steps still needed are sent, and they are not measured."""
    done = set()
    undoing = False
    for action, params in cycle_steps(name, trust):
        undoing = undoing or time.monotonic() >= deadline
        if undoing and UNDOES.get(action) not in done:
            continue
        status, body, seconds = client.call(action, params)
        if undoing:
            tally.add_unmeasured(status)
            continue
        if tally.add(action, status, body, seconds):
            done.add(action)
        else:
            undoing = True


def wait_for_slot(start, k, pace):
    """Sleeps until cycle k's start time when a pace is set (no catching up
    in bursts: a late cycle starts at once)."""
    if pace:
        delay = start + k / pace - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def write_worker(opts, wid, barrier, results):
    """One process of `writes`: its own connection, cycles until the deadline."""
    client, account = root_client(opts["root"], opts["endpoint"])
    trust = trust_policy(opts["user_arn"] or f"arn:aws:iam::{account}:root")
    client.call("GetCallerIdentity", service="sts")  # connect before the clock starts
    barrier.wait(timeout=120)
    tally = Tally()
    deadline = tally.start + opts["duration"]
    pace = opts["pace"] / opts["connections"] if opts["pace"] else 0
    k = 0
    while time.monotonic() < deadline:
        wait_for_slot(tally.start, k, pace)
        if time.monotonic() >= deadline:
            break
        if opts["calibrate"]:
            status, body, seconds = client.call("GetCallerIdentity", service="sts")
            tally.add("GetCallerIdentity", status, body, seconds)
        else:
            run_cycle(client, f"{opts['prefix']}-{wid}-{k}", trust, deadline, tally)
        k += 1
    results.put(tally.as_dict(cycles=k))


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))]


def latency_summary(seconds, prefix=""):
    """p50/p90/p99/max/mean in µs, the keys wrk's summary uses."""
    v = sorted(seconds)
    out = {f"{prefix}{k}_us": round(percentile(v, p) * 1e6) for k, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}
    out[f"{prefix}mean_us"] = round(sum(v) / len(v) * 1e6, 1) if v else 0
    return out


def merge_tallies(parts):
    """One result from every process's tally: successes per second over the
    time from the first start to the last measured answer."""
    by_action = {}
    for part in parts:
        for action, v in part["lat"].items():
            by_action.setdefault(action, []).extend(v)
    every = [s for v in by_action.values() for s in v]
    elapsed = max(p["last_end"] for p in parts) - min(p["start"] for p in parts)
    r = {
        "requests": len(every),
        "ok_total": len(every) + sum(p["unmeasured_ok"] for p in parts),  # what server CPU is divided by
        "duration_us": round(elapsed * 1e6),
        "rps": len(every) / elapsed if elapsed > 0 else 0.0,
        "errors": sum(p["errors"] for p in parts),
        "cycles": sum(p.get("cycles", 0) for p in parts),
        **latency_summary(every),
        "p50_us_by_action": {a: latency_summary(v)["p50_us"] for a, v in sorted(by_action.items())},
    }
    return r


def run_processes(target, args_for, n):
    """Starts n processes of target (fork), lets them start together, and
    returns what each put on the queue. multiprocessing rather than threads:
    signing and http.client cost CPU, and one interpreter would cap the rate."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    parts = []
    while len(parts) < n:
        try:
            parts.append(results.get(timeout=1))
        except queue.Empty:
            if all(p.exitcode is not None for p in procs) and results.empty():
                sys.exit(f"{n - len(parts)} worker process(es) died; see above")
    for p in procs:
        p.join()
    return parts


def report_errors(parts, what):
    for p in parts:
        if p["first_error"]:
            print(f"{what}: first error: {p['first_error']}", file=sys.stderr)
            break


def cmd_writes(a):
    """Closed loop (or --pace cycles/s in total) of write cycles from
    --connections processes; --calibrate sends GetCallerIdentity instead, to
    show what the driver itself can reach."""
    user_arn = None
    if a.state:
        with open(a.state) as f:
            user_arn = json.load(f)["user_arn"]
    opts = {"root": a.root, "endpoint": a.endpoint, "user_arn": user_arn, "duration": a.duration,
            "connections": a.connections, "pace": a.pace, "calibrate": a.calibrate,
            "prefix": a.prefix or f"W{secrets.token_hex(3)}"}
    parts = run_processes(write_worker, lambda i: (opts, i), a.connections)
    r = merge_tallies(parts)
    r.update({"kind": "writes", "action": "GetCallerIdentity" if a.calibrate else "IAM writes",
              "pace": a.pace or 0, "connections": a.connections})
    report_errors(parts, "writes")
    print(f"{r['action']}: {r['requests']} in {r['duration_us'] / 1e6:.1f}s = {r['rps']:.1f}/s, "
          f"p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, max {r['max_us'] / 1000:.2f} ms, "
          f"{r['errors']} errors; p50 ms by action: "
          + ", ".join(f"{k} {v / 1000:.2f}" for k, v in r["p50_us_by_action"].items()), file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump(r, f)


# --------------------------------------------------------------------------- create-roles

def fit_time(marks, n):
    """Seconds for n roles from (count, seconds) marks, fitting t = a·k + b·k²
    (least squares, b ≥ 0): a store that rebuilds everything per write
    spends time growing with the count on each CreateRole."""
    pts = [(k, t) for k, t in marks if k > 0]
    s2, s3, s4 = (sum(k ** e for k, _ in pts) for e in (2, 3, 4))
    t1, t2 = sum(k * t for k, t in pts), sum(k * k * t for k, t in pts)
    det = s2 * s4 - s3 * s3
    a, b = ((t1 * s4 - t2 * s3) / det, (s2 * t2 - s3 * t1) / det) if det else (t1 / s2, 0.0)
    if b < 0:
        a, b = t1 / s2, 0.0
    return a * n + b * n * n


def cmd_create_roles(a):
    """N CreateRole calls in sequence on one keep-alive connection. Stops at
    --time-cap seconds and then estimates the time for all N (fit_time)."""
    client, account = root_client(a.root, a.endpoint)
    trust = trust_policy(f"arn:aws:iam::{account}:root")
    client.call("GetCallerIdentity", service="sts")  # connect before the clock starts
    prefix = a.prefix or f"C{secrets.token_hex(3)}"
    every = max(1, a.count // 100)
    tally = Tally()
    marks = []
    made = 0
    while made < a.count and time.monotonic() - tally.start < a.time_cap:
        status, body, seconds = client.call("CreateRole", {"RoleName": f"{prefix}-{made:06d}", "AssumeRolePolicyDocument": trust})
        if not tally.add("CreateRole", status, body, seconds):
            print(f"create-roles: {tally.first_error}", file=sys.stderr)
            if tally.errors >= 10:
                sys.exit("create-roles: 10 errors, giving up")
            continue
        made += 1
        if made % every == 0 or made == a.count:
            marks.append((made, time.monotonic() - tally.start))
    seconds = tally.last_end - tally.start
    capped = made < a.count
    r = {"kind": "create", "action": "CreateRole", "requests": made, "count": a.count, "created": made, "seconds": round(seconds, 3),
         "roles_per_s": made / seconds if seconds > 0 else 0.0, "capped": capped, "time_cap_s": a.time_cap,
         "seconds_est": round(fit_time(marks, a.count), 1) if capped else round(seconds, 3),
         "errors": tally.errors, **latency_summary(tally.lat.get("CreateRole", [])),
         "marks": [[k, round(t, 3)] for k, t in marks]}  # (roles made, seconds) at every 1 % of --count
    note = f" (capped at {a.time_cap:.0f}s; all {a.count} estimated at {r['seconds_est']:.0f}s)" if capped else ""
    print(f"create-roles: {made} of {a.count} in {seconds:.1f}s = {r['roles_per_s']:.1f} roles/s{note}", file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump(r, f)


# --------------------------------------------------------------------------- follow

def poll_worker(opts, created, seen, barrier, results):
    """Node B's side of `follow`: asks B for every role A has created, every
    POLL_S until B answers GetRole with it; reports each seen role back so
    the writer can delete it (deleting earlier could hide it from B for good:
    B loads the latest state, not each version)."""
    client, _ = root_client(opts["root"], opts["follower"])
    client.call("GetCallerIdentity", service="sts")
    barrier.wait(timeout=120)
    tally = Tally()
    pending = {}  # role name -> (when its CreateRole was sent to A, when A answered)
    lags, lags_from_send, unseen, polls, writer_done = [], [], 0, 0, False
    while not writer_done or pending:
        try:
            while True:
                item = created.get(block=not pending, timeout=0.1)
                if item is None:
                    writer_done = True
                else:
                    pending[item[0]] = item[1:]
        except queue.Empty:
            pass
        tick = time.monotonic()
        for name, (sent, acked) in list(pending.items()):
            status, body, seconds = client.call("GetRole", {"RoleName": name})
            polls += 1
            if status == 200:
                lags.append(time.monotonic() - acked)
                lags_from_send.append(time.monotonic() - sent)
            else:
                if status != 404:  # NoSuchEntity is the expected "not yet"
                    tally.add("GetRole", status, body, seconds)
                if time.monotonic() - acked <= UNSEEN_AFTER_S:
                    continue
                unseen += 1
            del pending[name]
            seen.put(name)
        time.sleep(max(0.0, tick + POLL_S - time.monotonic()))
    seen.put(None)
    results.put(tally.as_dict(lags=lags, lags_from_send=lags_from_send, unseen=unseen, polls=polls))


def follow_writer(opts, created, seen, barrier, results):
    """Node A's side of `follow`: at --pace cycles/s, CreateRole (announced
    to the poller), PutRolePolicy, TagRole, then DeleteRolePolicy and
    DeleteRole of the oldest role B has already shown: five writes a cycle
    once B keeps up."""
    client, account = root_client(opts["root"], opts["endpoint"])
    trust = trust_policy(opts["user_arn"] or f"arn:aws:iam::{account}:root")
    client.call("GetCallerIdentity", service="sts")
    barrier.wait(timeout=120)
    tally = Tally()
    deadline = tally.start + opts["duration"]
    made = {}  # role name -> steps that succeeded
    shown = []
    k, poller_done = 0, False

    def delete(name, measured):
        for action, params in cycle_steps(name, trust)[3:]:
            if UNDOES[action] in made[name]:
                status, body, seconds = client.call(action, params)
                if measured:
                    tally.add(action, status, body, seconds)
                else:
                    tally.add_unmeasured(status)
        del made[name]

    def take_seen(block):
        nonlocal poller_done
        try:
            while True:
                name = seen.get(block=block, timeout=1)
                if name is None:
                    poller_done = True
                    return
                shown.append(name)
        except queue.Empty:
            pass

    while time.monotonic() < deadline:
        wait_for_slot(tally.start, k, opts["pace"])
        if time.monotonic() >= deadline:
            break
        name = f"{opts['prefix']}-{k}"
        made[name] = set()
        for action, params in cycle_steps(name, trust)[:3]:
            status, body, seconds = client.call(action, params)
            if not tally.add(action, status, body, seconds):
                break
            made[name].add(action)
            if action == "CreateRole":
                acked = time.monotonic()
                created.put((name, acked - seconds, acked))
        take_seen(block=False)
        if shown:
            delete(shown.pop(0), measured=True)
        k += 1
    created.put(None)
    while not poller_done:  # after the deadline: delete everything, unmeasured
        take_seen(block=True)
        while shown:
            delete(shown.pop(0), measured=False)
    for name in list(made):
        delete(name, measured=False)
    results.put(tally.as_dict(cycles=k))


def cmd_follow(a):
    """Two nodes on one database: writes on node A at a fixed pace, and how
    long each created role takes to appear on node B."""
    user_arn = None
    if a.state:
        with open(a.state) as f:
            user_arn = json.load(f)["user_arn"]
    opts = {"root": a.root, "endpoint": a.endpoint, "follower": a.follower, "user_arn": user_arn,
            "duration": a.duration, "pace": a.pace, "prefix": a.prefix or f"F{secrets.token_hex(3)}"}
    ctx = multiprocessing.get_context("fork")
    created, seen = ctx.Queue(), ctx.Queue()
    roles = (follow_writer, poll_worker)
    parts = run_processes(lambda i, *rest: roles[i](*rest), lambda i: (i, opts, created, seen), 2)
    writer = next(p for p in parts if "cycles" in p)
    poller = next(p for p in parts if "lags" in p)
    r = merge_tallies([writer])
    lags = poller["lags"]
    r.update({"kind": "lag", "action": "IAM writes", "pace": a.pace, "cycles_per_s": writer["cycles"] / a.duration,
              "seen": len(lags), "unseen": poller["unseen"], "polls": poller["polls"],
              "poll_errors": poller["errors"], **latency_summary(lags, "lag_"),
              **latency_summary(poller["lags_from_send"], "lag_from_send_")})
    report_errors(parts, "follow")
    print(f"follow: {r['requests']} writes on A ({r['rps']:.1f}/s, p50 {r['p50_us'] / 1000:.2f} ms), "
          f"{len(lags)} roles seen on B: lag p50 {r['lag_p50_us'] / 1000:.1f} ms, p99 {r['lag_p99_us'] / 1000:.1f} ms, "
          f"max {r['lag_max_us'] / 1000:.1f} ms (from sending CreateRole: p50 {r['lag_from_send_p50_us'] / 1000:.1f} ms, "
          f"max {r['lag_from_send_max_us'] / 1000:.1f} ms); {r['unseen']} never seen; {r['errors'] + r['poll_errors']} errors",
          file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump(r, f)


# --------------------------------------------------------------------------- parse / report

def parse_wrk(path):
    with open(path) as f:
        for line in f:
            if line.startswith("BENCHJSON "):
                r = json.loads(line[len("BENCHJSON "):])
                r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
                r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
                return r
    sys.exit(f"{path}: no BENCHJSON line (did wrk run?)")


def cmd_rps(a):
    print(f"{parse_wrk(a.file)['rps']:.0f}")


def cmd_record(a):
    """Append one measurement to the run's results.jsonl."""
    r = {"action": a.action}
    if a.wrk:
        r.update(parse_wrk(a.wrk))
    if a.json:  # from writes / create-roles / follow, which name their action
        with open(a.json) as f:
            r.update(json.load(f))
    r.update({"label": a.label, "server": a.server, "mode": a.mode, "roles": a.roles})
    if a.connections is not None:
        r["connections"] = a.connections
    for kv in a.extra or []:
        k, v = kv.split("=", 1)
        try:
            v = float(v)
        except ValueError:
            pass
        r[k] = v
    for key in ("server_cpu_s", "follower_cpu_s"):
        if isinstance(r.get(key), float) and r.get("requests"):
            r[key[:-2] + "_us_per_req"] = round(r[key] * 1e6 / requests_done(r), 1)
    with open(a.results, "a") as f:
        f.write(json.dumps(r) + "\n")


def ms(us):
    return f"{us / 1000:.2f}"


def num(x):
    """Whole numbers from 100 up, three significant digits below (a write
    run at 100,000 roles may do under one write a second)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def times(x):
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"


def median(values):
    v = sorted(values)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def requests_done(r):
    """What server CPU is divided by: every successful request of the run,
    the unmeasured clean-up writes of write runs included."""
    return r.get("ok_total") or r["requests"]


def cpu_us(r, key="server_cpu_s"):
    """CPU µs per request (per write for write runs), or '-'."""
    return f"{r[key] * 1e6 / requests_done(r):.0f}" if r.get(key) is not None and r.get("requests") else "-"


def wrk_table(loads):
    out = ["| run | server | action | conns | roles | req/s | p50 ms | p99 ms | max ms | errors | peak RSS MB | server CPU µs/req |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in loads:
        rss = f"{r['rss_peak_kb'] / 1024:.1f}" if r.get("rss_peak_kb") else "-"
        out.append(
            f"| {r['label']} | {r['server']} | {r['action']} | {r.get('connections', '-')} | {r['roles']} | {r['rps']:.0f} | "
            f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} | {r['errors']} | {rss} | {cpu_us(r)} |"
        )
    return out


def writes_table(rows):
    out = ["| run | action | conns | pace cycles/s | roles | per s | p50 ms | p90 ms | p99 ms | max ms | errors | "
           "server CPU µs/req | follower CPU µs/write |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['label']} | {r['action']} | {r.get('connections', '-')} | {r.get('pace') or '-'} | {r['roles']} | "
            f"{num(r['rps'])} | {ms(r['p50_us'])} | {ms(r['p90_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} | "
            f"{r['errors']} | {cpu_us(r)} | {cpu_us(r, 'follower_cpu_s')} |"
        )
    return out


def lag_table(rows):
    out = ["| run | roles | pace cycles/s | cycles/s done | writes on A | A p50 ms | roles seen on B | lag p50 ms | "
           "lag p90 ms | lag p99 ms | lag max ms | from send: p50 ms | p99 ms | max ms | never seen | errors | "
           "follower CPU µs/write (polls incl.) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['label']} | {r['roles']} | {r['pace']:g} | {r['cycles_per_s']:.1f} | {r['requests']} | {ms(r['p50_us'])} | "
            f"{r['seen']} | {ms(r['lag_p50_us'])} | {ms(r['lag_p90_us'])} | {ms(r['lag_p99_us'])} | {ms(r['lag_max_us'])} | "
            f"{ms(r['lag_from_send_p50_us'])} | {ms(r['lag_from_send_p99_us'])} | {ms(r['lag_from_send_max_us'])} | "
            f"{r['unseen']} | {r['errors'] + r['poll_errors']} | {cpu_us(r, 'follower_cpu_s')} |"
        )
    return out


def create_table(rows):
    out = ["| run | roles asked | created | seconds | roles/s | p50 ms | p99 ms | errors | seconds for all | server CPU µs/role |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        est = f"{r['seconds_est']:.1f} (estimated: capped at {r['time_cap_s']:g} s)" if r["capped"] else f"{r['seconds_est']:.1f}"
        out.append(
            f"| {r['label']} | {r['count']} | {r['created']} | {r['seconds']:.1f} | {r['roles_per_s']:.1f} | "
            f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {r['errors']} | {est} | {cpu_us(r)} |"
        )
    return out


def mib_s(r):
    """Object bytes per second, in MiB/s (wrk's byte count also holds the
    response headers; this is the payload only)."""
    return r["rps"] * r["object_bytes"] / (1024 * 1024)


def s3_table(rows):
    out = ["| run | target | object | conns | req/s | MiB/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
           "latchkey CPU µs/req | upstream CPU µs/req | latchkey peak RSS MB |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        via = r["server"] == "latchkey"
        rss = f"{r['rss_peak_kb'] / 1024:.1f}" if via and r.get("rss_peak_kb") else "-"
        out.append(
            f"| {r['label']} | {'through latchkey' if via else 'upstream direct'} | {r['action'].split('-', 1)[1]} | "
            f"{r.get('connections', '-')} | {r['rps']:.0f} | {mib_s(r):.1f} | {ms(r['p50_us'])} | {ms(r['p90_us'])} | "
            f"{ms(r['p99_us'])} | {ms(r['max_us'])} | {r['errors']} | {cpu_us(r) if via else '-'} | "
            f"{cpu_us(r, 'upstream_cpu_s' if via else 'server_cpu_s')} | {rss} |"
        )
    return out


def s3_verdict(rows):
    """Per object size: medians through latchkey over medians direct, against
    issue #17's targets (latency p50 +15 % at most, throughput 85 % at least)."""
    out = []
    for action in dict.fromkeys(r["action"] for r in rows):
        def med(server, fn):
            return median(fn(r) for r in rows if r["action"] == action and r["server"] == server)
        n = sum(1 for r in rows if r["action"] == action and r["server"] == "latchkey")
        p50 = (med("latchkey", lambda r: r["p50_us"]), med("upstream", lambda r: r["p50_us"]))
        p99 = (med("latchkey", lambda r: r["p99_us"]), med("upstream", lambda r: r["p99_us"]))
        rps = (med("latchkey", lambda r: r["rps"]), med("upstream", lambda r: r["rps"]))
        mib = (med("latchkey", mib_s), med("upstream", mib_s))
        if None in p50 + rps:
            continue
        lat, thr = p50[0] / p50[1], rps[0] / rps[1]
        out.append(
            f"- {action} (medians of {n}): p50 {ms(p50[0])} vs {ms(p50[1])} ms = {times(lat)} "
            f"(target <= 1.15: {'met' if lat <= 1.15 else 'MISSED'}); p99 {ms(p99[0])} vs {ms(p99[1])} ms = {times(p99[0] / p99[1])}; "
            f"{rps[0]:.0f} vs {rps[1]:.0f} req/s ({mib[0]:.1f} vs {mib[1]:.1f} MiB/s) = {times(thr)} "
            f"(target >= 0.85: {'met' if thr >= 0.85 else 'MISSED'})"
        )
    return out


def cmd_report(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    s3_rows = [r for r in rows if "rps" in r and "object_bytes" in r]
    tables = [
        (s3_table, s3_rows),
        (wrk_table, [r for r in rows if "rps" in r and "kind" not in r and "object_bytes" not in r]),
        (writes_table, [r for r in rows if r.get("kind") == "writes"]),
        (lag_table, [r for r in rows if r.get("kind") == "lag"]),
        (create_table, [r for r in rows if r.get("kind") == "create"]),
    ]
    facts = {r["label"]: r for r in rows if "rps" not in r and "kind" not in r}
    out = []
    for table, these in tables:
        if these:
            out += (["", ""] if out else []) + table(these)
    for label, f in facts.items():
        out.append("")
        out.append(f"- {label}: " + ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("label", "server", "action", "mode", "roles")))

    def median_of(label, fn):
        return median(fn(r) for r in rows if r["label"] == label and fn(r) is not None)

    rps = lambda r: r.get("rps")
    cpu = lambda r: r["server_cpu_s"] * 1e6 / requests_done(r) if r.get("server_cpu_s") is not None and r.get("requests") else None

    if s3_rows:
        out += [""] + s3_verdict(s3_rows)
    if a.ratio or a.field_ratio:
        out.append("")
    for spec in a.ratio or []:
        x, y, what = spec.split(":", 2)
        rx, ry = median_of(x, rps), median_of(y, rps)
        if rx is not None and ry:
            line = f"- ratio {what}: {num(rx)} / {num(ry)} req/s = {times(rx / ry)}"
            cx, cy = median_of(x, cpu), median_of(y, cpu)
            if cx and cy:
                line += f"; server CPU per request {num(cx)} / {num(cy)} µs, so {times(cy / cx)} the requests per CPU-second"
            out.append(line)
    for spec in a.field_ratio or []:
        field, x, y, what = spec.split(":", 3)
        vx, vy = median_of(x, lambda r: r.get(field)), median_of(y, lambda r: r.get(field))
        if vx is not None and vy:
            out.append(f"- ratio {what}: {num(vx)} / {num(vy)} = {times(vx / vy)}")
    text = "\n".join(out)
    print(text)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("setup")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--access-key", required=True)
    s.add_argument("--secret-key", required=True)
    s.add_argument("--fill-roles", type=int, default=FILLER_ROLES)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_setup)

    s = sub.add_parser("sign")
    s.add_argument("--state", required=True)
    s.add_argument("--action", choices=["AssumeRole", "GetCallerIdentity"], required=True)
    s.add_argument("--endpoint", help="server to sign for and send to (default: the one set up)")
    s.add_argument("--connection-close", action="store_true")
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_sign)

    s = sub.add_parser("s3-setup")
    s.add_argument("--state", required=True, help="from setup (its user gets s3:GetObject); the S3 part is added to it")
    s.add_argument("--endpoint", required=True, help="latchkey")
    s.add_argument("--access-key", required=True, help="the account root's key")
    s.add_argument("--secret-key", required=True)
    s.add_argument("--upstream", required=True)
    s.add_argument("--upstream-access-key", required=True)
    s.add_argument("--upstream-secret-key", required=True)
    s.set_defaults(fn=cmd_s3_setup)

    s = sub.add_parser("s3-sign")
    s.add_argument("--state", required=True)
    s.add_argument("--target", choices=["latchkey", "upstream"], required=True)
    s.add_argument("--object", choices=list(S3_OBJECTS), required=True)
    s.add_argument("--endpoint", help="default: the target's, as set up")
    s.add_argument("--expires", type=int, default=900)
    s.add_argument("--connection-close", action="store_true")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_s3_sign)

    s = sub.add_parser("load-roles")
    s.add_argument("--state", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--db", help="SQLite latchkey.db")
    g.add_argument("--database-url", help="PostgreSQL store (psql on the PATH)")
    s.add_argument("--total", type=int, required=True)
    s.set_defaults(fn=cmd_load_roles)

    s = sub.add_parser("writes")
    s.add_argument("--root", required=True, help="`latchkey init --output json` of the server's account")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--state", help="from setup: the trust policies name its user (default: the account root)")
    s.add_argument("--connections", type=int, default=4, help="worker processes, one connection each")
    s.add_argument("--duration", type=float, default=12)
    s.add_argument("--pace", type=float, default=0, help="cycles/s in all (default: as fast as answered)")
    s.add_argument("--calibrate", action="store_true", help="GetCallerIdentity instead of write cycles")
    s.add_argument("--prefix", help="role name prefix (default: random)")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_writes)

    s = sub.add_parser("create-roles")
    s.add_argument("--root", required=True, help="`latchkey init --output json` of the server's account")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--time-cap", type=float, default=120, help="stop after this many seconds and estimate")
    s.add_argument("--prefix", help="role name prefix (default: random)")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_create_roles)

    s = sub.add_parser("follow")
    s.add_argument("--root", required=True, help="`latchkey init --output json` of the shared store's account")
    s.add_argument("--endpoint", required=True, help="node A, written to")
    s.add_argument("--follower", required=True, help="node B, polled")
    s.add_argument("--state", help="from setup: the trust policies name its user (default: the account root)")
    s.add_argument("--duration", type=float, default=12)
    s.add_argument("--pace", type=float, default=50, help="cycles/s")
    s.add_argument("--prefix", help="role name prefix (default: random)")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_follow)

    s = sub.add_parser("rps")
    s.add_argument("file")
    s.set_defaults(fn=cmd_rps)

    s = sub.add_parser("record")
    s.add_argument("--results", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--server", default="latchkey")
    s.add_argument("--action", default="-")
    s.add_argument("--mode", default="-")
    s.add_argument("--roles", type=int, default=0)
    s.add_argument("--connections", type=int)
    s.add_argument("--wrk")
    s.add_argument("--json", help="a result written by writes, create-roles or follow")
    s.add_argument("extra", nargs="*")
    s.set_defaults(fn=cmd_record)

    s = sub.add_parser("report")
    s.add_argument("results")
    s.add_argument("--ratio", action="append", help="LABEL_A:LABEL_B:description (median req/s of A over B)")
    s.add_argument("--field-ratio", action="append", help="FIELD:LABEL_A:LABEL_B:description (median FIELD of A over B)")
    s.set_defaults(fn=cmd_report)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
