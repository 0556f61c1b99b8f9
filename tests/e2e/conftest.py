"""Start real latchkey processes for the tests: temp data dir, free port."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import boto3
import botocore.config
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("LATCHKEY_BIN", str(REPO / "target" / "debug" / "latchkey"))


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LATCHKEY_"))}
    env["LATCHKEY_LOG"] = "warn"
    # Every server the tests start compares each snapshot it patches after
    # a write with one built from a full load (see _no_diverged_snapshots).
    env["LATCHKEY_CHECK_SNAPSHOTS"] = "1"
    env.update(extra)
    return env


# Log lines of any server reporting a patched snapshot that differed from
# the store: each fails the test that was running.
_DIVERGED = []


@pytest.fixture(autouse=True)
def _no_diverged_snapshots():
    yield
    found, _DIVERGED[:] = list(_DIVERGED), []
    assert not found, "a server's incremental snapshot diverged from the store:\n" + "\n".join(found)


def run(*args, env=None, check=True, **kw):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env or clean_env(), check=check, **kw)


def init(data_dir, account=None):
    args = ["init", "--data-dir", str(data_dir), "--output", "json"]
    if account:
        args += ["--account-id", account]
    out = run(*args)
    return json.loads(out.stdout)


_STARTED = []


@pytest.fixture(autouse=True, scope="session")
def _reap_servers():
    """Kills every server a test started, even when the test failed before
    stopping it, so no process outlives the run."""
    yield
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Server:
    def __init__(self, data_dir, args=(), env=None):
        self.data_dir = pathlib.Path(data_dir)
        self.lines = []
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(),
        )
        _STARTED.append(self.proc)
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                if "snapshot diverged" in line:
                    _DIVERGED.append(line.rstrip("\n"))
                if line.startswith("latchkey: listening on "):
                    self.endpoint = line.split("listening on ", 1)[1].strip()
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30):
            self.proc.kill()
            raise RuntimeError("server did not start: " + "\n".join(self.lines))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(20)

    def creds(self):
        text = (self.data_dir / "root-credentials").read_text()
        kv = dict(l.split(" = ", 1) for l in text.splitlines() if " = " in l)
        return kv["aws_access_key_id"], kv["aws_secret_access_key"]

    def client(self, service, key=None, secret=None, token=None, validate=True):
        if key is None:
            key, secret = self.creds()
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=validate),
        )

    def aws(self, *args, check=True, profile_file=None):
        env = clean_env(
            AWS_SHARED_CREDENTIALS_FILE=str(profile_file or self.data_dir / "root-credentials"),
            AWS_CONFIG_FILE=os.devnull,
            AWS_DEFAULT_REGION="us-east-1",
        )
        aws = os.environ.get("AWS_CLI", "aws")
        out = subprocess.run(
            [aws, "--endpoint-url", self.endpoint, "--output", "json", *args],
            capture_output=True, text=True, env=env,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
        return out


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("shared") / "data")
    yield s
    s.proc.kill()
    s.proc.wait()


class shifted_clock:
    """Signs botocore requests as if it were `seconds` later, to talk to a
    server started with LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        import datetime

        import botocore.auth
        real = self.real = botocore.auth.datetime.datetime
        delta = datetime.timedelta(seconds=self.seconds)

        class Shifted(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + delta

            @classmethod
            def now(cls, tz=None):
                return real.now(tz) + delta

        botocore.auth.datetime.datetime = Shifted
        return self

    def __exit__(self, *exc):
        import botocore.auth
        botocore.auth.datetime.datetime = self.real
