"""Several latchkey nodes on one PostgreSQL database (issue #9).

Each test gets a throwaway database on the server named by
LATCHKEY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
created and dropped with psql. There is no skip: without PostgreSQL these
tests fail. The nodes reach the database through a small TCP proxy in this
file, so a test can cut the database away from them (and bring it back)
without touching the shared server.
"""

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import Server, clean_env, run

ADMIN_URL = os.environ.get("LATCHKEY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def psql(sql, url=ADMIN_URL):
    if shutil.which("psql") is None:
        pytest.fail("these tests need the psql client (Debian: postgresql-client) and a PostgreSQL server")
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"psql {sql!r} against {url}: {out.stderr}"


def with_host_port(url, host, port, database=None):
    u = urllib.parse.urlsplit(url)
    userinfo = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
    path = "/" + database if database else u.path
    return urllib.parse.urlunsplit((u.scheme, f"{userinfo}{host}:{port}", path, u.query, u.fragment))


class Proxy:
    """A TCP forwarder on a fixed loopback port that can be cut (listener
    closed, every open connection reset) and restored on the same port."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns = []
        self.lock = threading.Lock()
        self.sock = None
        self.start()

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                client, _ = s.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.sock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def restore(self):
        self.start()


@pytest.fixture
def database():
    """A fresh database; yields its URL through a proxy the test controls."""
    name = "latchkey_test_" + secrets.token_hex(6)
    psql(f"CREATE DATABASE {name}")
    u = urllib.parse.urlsplit(ADMIN_URL)
    proxy = Proxy(u.hostname or "127.0.0.1", u.port or 5432)
    try:
        yield with_host_port(ADMIN_URL, "127.0.0.1", proxy.port, name), proxy, with_host_port(ADMIN_URL, u.hostname, u.port or 5432, name)
    finally:
        proxy.cut()
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def init(data_dir, url):
    out = run("init", "--data-dir", str(data_dir), "--database-url", url, "--output", "json")
    assert f"master key in {data_dir}/master.key" in out.stderr, out.stderr
    return json.loads(out.stdout)


def node(data_dir, url, key_file, *args, env=None):
    return Server(data_dir, args=["--database-url", url, "--master-key-file", str(key_file), *args], env=env)


def trust_root(account):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]})


def make_caller(iam):
    """A user allowed to call AssumeRole (AWS refuses it to the root user)."""
    iam.create_user(UserName="caller")
    iam.put_user_policy(UserName="caller", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    k = iam.create_access_key(UserName="caller")["AccessKey"]
    return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}


def token_key_id(token):
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return int.from_bytes(raw[1:5], "big")


@pytest.fixture
def cluster(tmp_path, database):
    url, proxy, _ = database
    root = init(tmp_path / "n1", url)
    key_file = tmp_path / "n1" / "master.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # The database URL and key file from each source: flags, environment, config file.
    config = tmp_path / "n3.toml"
    config.write_text(f'database_url = "{url}"\nmaster_key_file = "{key_file}"\n')
    nodes = [
        node(tmp_path / "n1", url, key_file),
        Server(tmp_path / "n2", env=clean_env(LATCHKEY_DATABASE_URL=url, LATCHKEY_MASTER_KEY_FILE=str(key_file))),
        Server(tmp_path / "n3", args=["--config", str(config)]),
    ]
    yield nodes, root, proxy, url, key_file
    for n in nodes:
        if n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()
    # The hourly purge runs at start too, possibly before the audit table
    # exists on a fresh database: it must make it, not fail.
    for n in nodes:
        assert not [l for l in n.lines if "dropping old audit records failed" in l], n.lines


def client(n, root, service, creds=None):
    if creds:
        return n.client(service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return n.client(service, root["AccessKeyId"], root["SecretAccessKey"])


def until(deadline_s, attempt, failure=ClientError, pause=0.02):
    """Calls `attempt` until it returns without raising `failure` or
    `deadline_s` passes; returns (value, seconds taken)."""
    start = time.monotonic()
    while True:
        try:
            return attempt(), time.monotonic() - start
        except failure:
            if time.monotonic() - start > deadline_s:
                raise
            time.sleep(pause)


def test_a_role_created_on_one_node_is_assumable_on_another_within_a_second(cluster):
    (n1, n2, n3), root, _, _, _ = cluster
    account = root["AccountId"]
    iam1 = client(n1, root, "iam")
    caller = make_caller(iam1)
    iam1.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust_root(account))
    created = time.monotonic()
    sts2 = client(n2, caller, "sts")
    resp, took = until(3, lambda: sts2.assume_role(RoleArn=f"arn:aws:iam::{account}:role/deployer", RoleSessionName="s1"))
    assert took < 1.0, f"node 2 saw the role after {took:.2f} s"
    who = client(n3, root, "sts", resp["Credentials"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{account}:assumed-role/deployer/s1"
    # And every node's IAM view has the role within 1 s (node 3 may still be
    # rebuilding its snapshot when node 2 already answers).
    for n in (n2, n3):
        got, _ = until(3, lambda: client(n, root, "iam").get_role(RoleName="deployer"))
        seen = time.monotonic() - created
        assert got["Role"]["RoleName"] == "deployer" and seen < 1.0, f"seen after {seen:.2f} s"


def test_each_write_on_one_node_is_seen_by_the_next_request_to_another(cluster):
    """No waiting: a write answered by one node, then at once a request to
    another node that needs it (a new role to read and assume, a new key to
    sign with, a new permission), interleaved with AssumeRole. A node that
    refuses for want of something another node just wrote catches up and
    judges again. Revocations (a removed permission, a deleted role) reach
    the other nodes within moments, as in IAM, which is eventually
    consistent."""
    (n1, n2, n3), root, _, _, _ = cluster
    account = root["AccountId"]
    iam1, iam2 = client(n1, root, "iam"), client(n2, root, "iam")
    caller = make_caller(iam1)
    sts2, sts3 = client(n2, caller, "sts"), client(n3, caller, "sts")
    for i in range(15):
        name = f"interleaved-{i}"
        writer, reader_iam, reader_sts = (iam1, iam2, sts2) if i % 2 == 0 else (iam2, iam1, sts3)
        writer.create_role(RoleName=name, AssumeRolePolicyDocument=trust_root(account))
        assert reader_iam.get_role(RoleName=name)["Role"]["RoleName"] == name
        creds = reader_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName="s1")["Credentials"]
        # A permission granted on one node is in force on the next request elsewhere.
        writer.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
        session_iam = client(n3, root, "iam", creds)
        assert any(r["RoleName"] == name for r in session_iam.list_roles()["Roles"])
        # Its removal is in force everywhere within moments: a node that has
        # not heard of it yet would allow (as IAM, eventually consistent).
        writer.delete_role_policy(RoleName=name, PolicyName="list")
        revoked = client(n2, root, "iam", creds)

        def refused():
            try:
                revoked.list_roles()
            except ClientError as e:
                return e.response["Error"]["Code"]
            raise AssertionError("still allowed")

        code, took = until(1, refused, failure=AssertionError, pause=0.005)
        assert code == "AccessDenied" and took < 1.0
        writer.delete_role(RoleName=name)

        def gone():
            try:
                reader_iam.get_role(RoleName=name)
            except ClientError as e:
                return e.response["Error"]["Code"]
            raise AssertionError("still there")

        code, took = until(1, gone, failure=AssertionError, pause=0.005)
        assert code == "NoSuchEntity" and took < 1.0
    # A key made on one node signs on another at once.
    iam1.create_user(UserName="fresh")
    key = iam1.create_access_key(UserName="fresh")["AccessKey"]
    who = n3.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{account}:user/fresh"


def test_key_rotation_on_one_node_keeps_old_tokens_valid_on_the_others(cluster, tmp_path):
    (n1, n2, n3), root, _, url, key_file = cluster
    account = root["AccountId"]
    caller = make_caller(client(n1, root, "iam"))
    client(n1, root, "iam").create_role(RoleName="r", AssumeRolePolicyDocument=trust_root(account))
    arn = f"arn:aws:iam::{account}:role/r"
    old, _ = until(3, lambda: client(n2, caller, "sts").assume_role(RoleArn=arn, RoleSessionName="old"))
    assert token_key_id(old["Credentials"]["SessionToken"]) == 1

    # A fourth node whose clock runs two minutes ahead finds the key older
    # than its one-minute period and rotates at start.
    n4 = node(tmp_path / "n4", url, key_file, "--token-key-rotation", "60",
              env=clean_env(LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS="120"))
    try:
        new = client(n4, caller, "sts").assume_role(RoleArn=arn, RoleSessionName="new")
        assert token_key_id(new["Credentials"]["SessionToken"]) == 2
        for n in (n1, n2, n3):
            # The old token keeps verifying; a token sealed with the new key
            # verifies on every node at the first try, even before the
            # node has heard of the key (it catches up when a token names a
            # key newer than all it knows).
            assert client(n, root, "sts", old["Credentials"]).get_caller_identity()["Arn"].endswith("/old")
            assert client(n, root, "sts", new["Credentials"]).get_caller_identity()["Arn"].endswith("/new")
        # The other nodes now seal with the new key too.
        fresh, _ = until(3, lambda: client(n3, caller, "sts").assume_role(RoleArn=arn, RoleSessionName="fresh"))
        assert token_key_id(fresh["Credentials"]["SessionToken"]) == 2
    finally:
        n4.stop()


def test_database_outage_reads_continue_writes_fail_fast_then_heal(cluster):
    (n1, n2, n3), root, proxy, _, _ = cluster
    account = root["AccountId"]
    iam1 = client(n1, root, "iam")
    caller = make_caller(iam1)
    iam1.create_role(RoleName="r", AssumeRolePolicyDocument=trust_root(account))
    iam1.create_user(UserName="before")
    arn = f"arn:aws:iam::{account}:role/r"
    until(3, lambda: client(n2, root, "iam").get_user(UserName="before"))

    proxy.cut()
    for n in (n1, n2):
        sts = client(n, caller, "sts")
        creds = sts.assume_role(RoleArn=arn, RoleSessionName="outage")["Credentials"]
        assert client(n, root, "sts", creds).get_caller_identity()["Arn"].endswith("/outage")
        iam = client(n, root, "iam")
        assert iam.get_user(UserName="before")["User"]["UserName"] == "before"
        assert any(u["UserName"] == "before" for u in iam.list_users()["Users"])
        start = time.monotonic()
        with pytest.raises(ClientError) as e:
            iam.create_user(UserName="during")
        took = time.monotonic() - start
        assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert took < 5, f"a write took {took:.1f} s to fail"

    proxy.restore()
    # Nodes reconnect by themselves: writes work again, and reach the others.
    _, took = until(15, lambda: iam1.create_user(UserName="after"))
    got, took = until(10, lambda: client(n3, root, "iam").get_user(UserName="after"))
    assert got["User"]["UserName"] == "after"


def test_a_node_with_another_master_key_refuses_to_start(cluster, tmp_path):
    _, _, _, url, _ = cluster
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    out = run("serve", "--data-dir", str(tmp_path / "wrong"), "--database-url", url, "--listen", "127.0.0.1:0",
              env=clean_env(LATCHKEY_MASTER_KEY=other), check=False, timeout=30)
    assert out.returncode != 0
    assert "master key given does not match" in out.stderr, out.stderr
    # And init refuses the initialised database, creating nothing.
    again = run("init", "--data-dir", str(tmp_path / "again"), "--database-url", url, check=False)
    assert again.returncode != 0 and "already initialised" in again.stderr
    assert not (tmp_path / "again" / "master.key").exists()


def test_serve_refuses_an_uninitialised_database(tmp_path, database):
    url, _, _ = database
    out = run("serve", "--data-dir", str(tmp_path / "d"), "--database-url", url, "--listen", "127.0.0.1:0",
              env=clean_env(LATCHKEY_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode()),
              check=False, timeout=30)
    assert out.returncode != 0 and "is not initialised" in out.stderr, out.stderr


def test_migrate_an_embedded_store_and_serve_it(tmp_path, database):
    url, _, _ = database
    embedded = Server(tmp_path / "embedded")
    account = embedded.client("sts").get_caller_identity()["Account"]
    iam = embedded.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    caller = make_caller(iam)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust_root(account))
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
    session = client(embedded, caller, "sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/r", RoleSessionName="before")
    root_key, root_secret = embedded.creds()
    embedded.stop()

    out = run("migrate", "--from", str(tmp_path / "embedded"), "--to", url)
    assert "copied" in out.stdout

    n = node(tmp_path / "pg", url, tmp_path / "embedded" / "master.key")
    try:
        root = {"AccessKeyId": root_key, "SecretAccessKey": root_secret}
        assert client(n, root, "sts").get_caller_identity()["Account"] == account
        # Secrets, token keys and policies came across.
        alice = n.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
        assert alice.get_caller_identity()["Arn"].endswith(":user/alice")
        creds = session["Credentials"]
        assert n.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]) \
            .get_user(UserName="alice")["User"]["UserName"] == "alice"
        client(n, root, "iam").create_user(UserName="bob")
    finally:
        n.stop()

    again = run("migrate", "--from", str(tmp_path / "embedded"), "--to", url, check=False)
    assert again.returncode != 0 and "not empty" in again.stderr, again.stderr


def test_audit_records_from_every_node_land_in_one_trail_and_the_spool_drains_after_an_outage(cluster, database):
    (n1, n2, n3), root, proxy, _, _ = cluster
    _, _, direct_url = database
    account = root["AccountId"]
    iam1 = client(n1, root, "iam")
    caller = make_caller(iam1)
    iam1.create_role(RoleName="audited", AssumeRolePolicyDocument=trust_root(account))
    arn = f"arn:aws:iam::{account}:role/audited"
    a1, _ = until(3, lambda: client(n1, caller, "sts").assume_role(RoleArn=arn, RoleSessionName="on-node-1"))
    a2, _ = until(3, lambda: client(n2, caller, "sts").assume_role(RoleArn=arn, RoleSessionName="on-node-2"))
    client(n3, root, "sts", a1["Credentials"]).get_caller_identity()

    def lookup(n, key, value):
        return client(n, root, "cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])["Events"]

    def found_once(n, key, value, name):
        events = [e for e in lookup(n, key, value) if e["EventName"] == name]
        if len(events) != 1:
            raise ClientError({"Error": {"Code": "NotYet", "Message": f"{len(events)} events"}}, "LookupEvents")
        return events[0]

    # Any node sees every node's events.
    for n in (n1, n2, n3):
        until(10, lambda: found_once(n, "ResourceName", "on-node-1", "AssumeRole"))
        until(10, lambda: found_once(n, "ResourceName", "on-node-2", "AssumeRole"))
        until(10, lambda: found_once(n, "AccessKeyId", a1["Credentials"]["AccessKeyId"], "GetCallerIdentity"))

    # With the database cut away, credentials are still issued: their
    # records are durable in the node's local spool.
    proxy.cut()
    issued = []
    for i in range(5):
        out = client(n1, caller, "sts").assume_role(RoleArn=arn, RoleSessionName=f"outage-{i}")
        issued.append(out["Credentials"]["AccessKeyId"])
    proxy.restore()
    # The spool drains when the database returns: each record lands once.
    for key in issued:
        until(20, lambda: found_once(n2, "ResourceName", key, "AssumeRole"))
    out = run("audit", "export", "--data-dir", str(n1.data_dir), "--database-url", direct_url)
    keys = [json.loads(l).get("responseElements", {}) or {} for l in out.stdout.splitlines()]
    keys = [r.get("credentials", {}).get("accessKeyId") for r in keys]
    for key in issued + [a1["Credentials"]["AccessKeyId"], a2["Credentials"]["AccessKeyId"]]:
        assert keys.count(key) == 1, f"{key} appears {keys.count(key)} times in the shared trail"
