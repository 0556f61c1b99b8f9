"""The client commands (`assume`, `unassume`, `exec`, `credential-process`,
`whoami`, `refresh`, `shell-init`) driven as a person would: through bash
and fish, the aws CLI and a pseudo-terminal, against a latchkey server.

Every test gets its own HOME, cache directory and AWS config files, so the
real user's ~/.aws and cache are never read or written."""

import json
import os
import pathlib
import pty
import select
import shutil
import stat
import subprocess
import time

import pytest

from conftest import BIN, clean_env
from test_mfa import totp

BIN_DIR = str(pathlib.Path(BIN).resolve().parent)


def trust(principal, condition=None):
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


class World:
    """A server with user alice (keys in the environment), role `one`
    trusting alice, role `two` trusting role `one`, and a private HOME."""

    def __init__(self, server, tmp_path):
        self.server = server
        self.tmp = tmp_path
        iam = self.iam = server.client("iam")
        self.acct = acct = server.client("sts").get_caller_identity()["Account"]
        iam.create_user(UserName="alice")
        k = iam.create_access_key(UserName="alice")["AccessKey"]
        self.key, self.secret = k["AccessKeyId"], k["SecretAccessKey"]
        self.alice_arn = f"arn:aws:iam::{acct}:user/alice"
        self.one = iam.create_role(RoleName="one", MaxSessionDuration=7200,
                                   AssumeRolePolicyDocument=trust(self.alice_arn))["Role"]["Arn"]
        self.two = iam.create_role(RoleName="two", MaxSessionDuration=7200,
                                   AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:role/one"))["Role"]["Arn"]
        (tmp_path / "home").mkdir()
        (tmp_path / "config").write_text("")
        (tmp_path / "credentials").write_text("")
        self.cache = tmp_path / "cache" / "latchkey"

    def session_arn(self, role, session=None):
        prefix = f"arn:aws:sts::{self.acct}:assumed-role/{role}/"
        return prefix + session if session else prefix

    def env(self, keys=True, endpoint=True, **extra):
        aws = shutil.which(os.environ.get("AWS_CLI", "aws")) or "aws"
        env = clean_env(
            HOME=str(self.tmp / "home"),
            XDG_CACHE_HOME=str(self.tmp / "cache"),
            AWS_CONFIG_FILE=str(self.tmp / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.tmp / "credentials"),
            AWS_DEFAULT_REGION="us-east-1",
            PATH=f"{BIN_DIR}:{os.path.dirname(aws)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            USER="tester",
        )
        if endpoint:
            env["AWS_ENDPOINT_URL"] = self.server.endpoint
        if keys:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = self.key, self.secret
        env.update(extra)
        return env

    def sh(self, script, shell="bash", env=None, check=True):
        if shutil.which(shell) is None:
            pytest.fail(f"{shell} is not installed (scripts/test installs it)")
        # A new session: no controlling terminal, so nothing can prompt.
        out = subprocess.run([shell, "-c", script], capture_output=True, text=True, env=env or self.env(),
                             start_new_session=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"{shell} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def latchkey(self, *args, env=None, check=True):
        out = subprocess.run([BIN, *args], capture_output=True, text=True, env=env or self.env(),
                             start_new_session=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"latchkey {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
        return out


@pytest.fixture
def world(server, tmp_path):
    return World(server, tmp_path)


WHO = "aws sts get-caller-identity --query Arn --output text"


def assert_no_secret(text, *secrets):
    for s in secrets:
        assert s and s not in text


def test_eval_in_bash_nests_and_unwinds(world):
    w = world
    out = w.sh(f"""
        set -e
        {WHO}
        eval "$(latchkey assume {w.one} --session-name first)"
        {WHO}
        echo "SECRET1=$AWS_SECRET_ACCESS_KEY"
        echo "PROMPT=$LATCHKEY_ROLE_ARN $LATCHKEY_SESSION_NAME $LATCHKEY_EXPIRATION"
        eval "$(latchkey assume {w.two} --session-name second)"
        {WHO}
        echo "SECRET2=$AWS_SECRET_ACCESS_KEY"
        eval "$(latchkey unassume)"
        {WHO}
        eval "$(latchkey unassume)"
        {WHO}
        echo "KEY=$AWS_ACCESS_KEY_ID STACK=${{LATCHKEY_STACK-unset}} ROLE=${{LATCHKEY_ROLE_ARN-unset}}"
    """)
    lines = out.stdout.splitlines()
    arns = [l for l in lines if l.startswith("arn:")]
    assert arns == [w.alice_arn, w.session_arn("one", "first"), w.session_arn("two", "second"),
                    w.session_arn("one", "first"), w.alice_arn]
    assert f"KEY={w.key} STACK=unset ROLE=unset" in lines
    prompt = next(l for l in lines if l.startswith("PROMPT="))
    assert prompt.startswith(f"PROMPT={w.one} first 20")
    secrets = [l.split("=", 1)[1] for l in lines if l.startswith("SECRET")]
    assert_no_secret(out.stderr, w.secret, *secrets)
    assert "assumed-role/one/first" in out.stderr  # says what it did, on stderr

    # With nothing left to unwind, unassume clears the variables.
    out = w.sh('eval "$(latchkey unassume)"; echo "KEY=${AWS_ACCESS_KEY_ID-unset}"')
    assert "KEY=unset" in out.stdout


def test_printed_lines_start_with_a_space_and_are_quoted(world):
    w = world
    # A session policy whose text needs quoting in every shell.
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalTag/x": "it's a 'team' $HOME `x` \\ end"}}}]})
    (w.tmp / "policy.json").write_text(policy)
    out = w.latchkey("assume", w.one, "--policy-file", str(w.tmp / "policy.json"))
    lines = out.stdout.splitlines()
    assert lines and all(l.startswith(" export ") or l.startswith(" unset ") for l in lines)
    names = {l.split()[1].split("=")[0] for l in lines}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
            "LATCHKEY_ROLE_ARN", "LATCHKEY_SESSION_NAME", "LATCHKEY_EXPIRATION", "LATCHKEY_STACK"} <= names
    session = next(l for l in lines if "LATCHKEY_SESSION_NAME" in l).split("=", 1)[1].strip("'")
    assert session.startswith("latchkey-tester-") and session.rsplit("-", 1)[1].isdigit()
    # The policy text survives an eval in bash and in fish (it is in LATCHKEY_TARGET).
    script = f'eval "$(latchkey assume {w.one} --policy-file {w.tmp}/policy.json)"; printf %s "$LATCHKEY_TARGET"'
    assert json.loads(w.sh(script).stdout)["policy"] == policy
    script = f'latchkey assume {w.one} --policy-file {w.tmp}/policy.json --format fish | source; printf %s "$LATCHKEY_TARGET"'
    assert json.loads(w.sh(script, shell="fish").stdout)["policy"] == policy


def test_eval_in_fish(world):
    w = world
    out = w.sh(f"""
        {WHO}
        latchkey assume {w.one} --session-name f1 --format fish | source
        {WHO}
        latchkey assume {w.two} --session-name f2 --format fish | source
        {WHO}
        latchkey unassume --format fish | source
        {WHO}
        latchkey unassume --format fish | source
        {WHO}
        echo "KEY=$AWS_ACCESS_KEY_ID"
    """, shell="fish")
    arns = [l for l in out.stdout.splitlines() if l.startswith("arn:")]
    assert arns == [w.alice_arn, w.session_arn("one", "f1"), w.session_arn("two", "f2"),
                    w.session_arn("one", "f1"), w.alice_arn]
    assert f"KEY={w.key}" in out.stdout
    assert_no_secret(out.stderr, w.secret)


def test_shell_init_exports_without_eval(world):
    w = world
    out = w.sh(f"""
        set -e
        eval "$(latchkey shell-init bash)"
        latchkey assume {w.one} --session-name wrapped
        {WHO}
        latchkey unassume
        {WHO}
    """)
    assert [l for l in out.stdout.splitlines() if l.startswith("arn:")] == [w.session_arn("one", "wrapped"), w.alice_arn]
    out = w.sh(f"""
        latchkey shell-init fish --refresh | source
        latchkey assume {w.one} --session-name fishwrap
        {WHO}
        latchkey unassume
        {WHO}
    """, shell="fish")
    arns = [l for l in out.stdout.splitlines() if l.startswith("arn:")]
    assert arns == [w.session_arn("one", "fishwrap"), w.alice_arn]
    out = w.sh(f"""
        set -e
        eval "$(latchkey shell-init zsh --refresh)"
        latchkey assume {w.one} --session-name zshwrap
        {WHO}
        eval "$(command latchkey assume {w.two} --session-name zsheval)"
        {WHO}
        latchkey unassume
        latchkey unassume
        {WHO}
        print -l $precmd_functions
    """, shell="zsh")
    lines = out.stdout.splitlines()
    assert [l for l in lines if l.startswith("arn:")] == [
        w.session_arn("one", "zshwrap"), w.session_arn("two", "zsheval"), w.alice_arn]
    assert "__latchkey_refresh" in lines
    assert "complete" in w.latchkey("completions", "bash").stdout
    assert "assume" in w.latchkey("completions", "fish").stdout


def test_exec_passes_the_exit_status(world):
    w = world
    out = w.latchkey("exec", w.one, "--session-name", "ex", "--", "sh", "-c", f"{WHO}; exit 7", check=False)
    assert out.returncode == 7, out.stderr
    assert out.stdout.strip() == w.session_arn("one", "ex")
    assert w.latchkey("exec", w.one, "--", "true").returncode == 0
    assert_no_secret(out.stderr, w.secret)


def test_credential_process_from_the_aws_cli(world):
    w = world
    (w.tmp / "credentials").write_text(f"[alice]\naws_access_key_id = {w.key}\naws_secret_access_key = {w.secret}\n")
    (w.tmp / "config").write_text(
        f"[profile lk]\ncredential_process = {BIN} credential-process {w.one} --profile alice --session-name cp\n")
    env = w.env(keys=False)
    out = w.sh("aws --profile lk sts get-caller-identity --query Arn --output text", env=env)
    assert out.stdout.strip() == w.session_arn("one", "cp")
    raw = json.loads(w.latchkey("credential-process", w.one, "--profile", "alice", env=env).stdout)
    assert raw["Version"] == 1 and raw["AccessKeyId"].startswith("ASIA") and raw["Expiration"].endswith("Z")
    assert {"SecretAccessKey", "SessionToken"} <= raw.keys()
    # assume --format json prints the same object.
    same = json.loads(w.latchkey("assume", w.one, "--profile", "alice", "--format", "json", env=env).stdout)
    assert same == raw  # from the cache


def test_cache_reuse_expiry_and_permissions(world):
    w = world

    def key(*extra):
        return json.loads(w.latchkey("assume", w.one, "--format", "json", *extra).stdout)["AccessKeyId"]

    first = key()
    assert key() == first  # reused
    files = list(w.cache.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(w.cache.stat().st_mode) == 0o700
    assert w.secret not in files[0].read_text()  # the cache holds the session, never the source secret
    assert "role" not in files[0].name

    entry = json.loads(files[0].read_text())

    def expire_in(seconds):
        entry["Credentials"]["Expiration"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        files[0].write_text(json.dumps(entry))

    expire_in(6 * 60)
    assert key() == first  # more than five minutes left: still used
    expire_in(4 * 60)
    second = key()
    assert second != first  # under five minutes: a new session
    assert key() == second
    assert key("--no-cache") not in (first, second)
    # Different session options are cached apart.
    assert key("--duration", "900") != key()
    # A cache file others can read is not trusted.
    for f in w.cache.iterdir():
        f.chmod(0o644)
    assert key() != second
    newest = max(w.cache.iterdir(), key=lambda f: f.stat().st_mtime)
    assert stat.S_IMODE(newest.stat().st_mode) == 0o600


def test_a_profile_chain_with_the_chaining_cap(world):
    w = world
    (w.tmp / "credentials").write_text(f"[base]\naws_access_key_id = {w.key}\naws_secret_access_key = {w.secret}\n")
    (w.tmp / "config").write_text(f"""
[profile one]
role_arn = {w.one}
source_profile = base
endpoint_url = {w.server.endpoint}

[profile two]
role_arn = {w.two}
source_profile = one
role_session_name = chained
duration_seconds = 7200
""")
    env = w.env(keys=False, endpoint=False)  # the endpoint comes from the profile
    out = w.sh(f'eval "$(latchkey assume two)"; aws --endpoint-url {w.server.endpoint} sts get-caller-identity '
               f'--query Arn --output text', env=env)
    assert out.stdout.strip() == w.session_arn("two", "chained")
    assert "role chaining" in out.stderr and "1 hour" in out.stderr and "7200" in out.stderr
    assert_no_secret(out.stderr, w.secret)
    # A profile without role_arn is refused with a reason.
    bad = w.latchkey("assume", "base", env=env, check=False)
    assert bad.returncode != 0 and "no role_arn" in bad.stderr


def test_access_denied_says_which_side_is_missing(world):
    w = world
    acct = w.acct
    w.iam.create_role(RoleName="acct", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:root"))
    w.iam.create_user(UserName="bob")
    w.iam.create_role(RoleName="other", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{acct}:user/bob"))
    w.iam.create_role(RoleName="ext", AssumeRolePolicyDocument=trust(
        w.alice_arn, {"StringEquals": {"sts:ExternalId": "Unique-123"}}))
    # alice may decode authorization messages, so latchkey can tell the sides apart.
    w.iam.put_user_policy(UserName="alice", PolicyName="decode", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}]}))

    # A trust policy that names the account leaves the rest to the caller's
    # own policy: the caller side is missing.
    out = w.latchkey("assume", f"arn:aws:iam::{acct}:role/acct", check=False)
    assert out.returncode != 0
    assert f"{w.alice_arn}'s own identity policy does not allow sts:AssumeRole" in out.stderr, out.stderr
    assert "the caller side is missing" in out.stderr
    # One that names someone else refuses on its own, whatever alice's policy says.
    out = w.latchkey("assume", f"arn:aws:iam::{acct}:role/other", check=False)
    assert out.returncode != 0
    assert f"the role's trust policy does not allow {w.alice_arn} (the trust side is missing)" in out.stderr, out.stderr
    # Allowing it on the caller's side is enough when the trust policy names the account.
    w.iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{acct}:role/acct"}]}))
    assert w.latchkey("assume", f"arn:aws:iam::{acct}:role/acct").returncode == 0

    out = w.latchkey("assume", f"arn:aws:iam::{acct}:role/ext", check=False)
    assert "--external-id" in out.stderr
    ok = w.latchkey("assume", f"arn:aws:iam::{acct}:role/ext", "--external-id", "Unique-123")
    assert ok.returncode == 0
    assert_no_secret(out.stderr + ok.stderr, w.secret)

    # Without DecodeAuthorizationMessage every likely cause is listed, and the encoded message kept.
    w.iam.delete_user_policy(UserName="alice", PolicyName="decode")
    out = w.latchkey("assume", f"arn:aws:iam::{acct}:role/other", check=False)
    assert out.returncode != 0
    assert "trust policy may not allow" in out.stderr and "identity policy must allow" in out.stderr
    assert "decode-authorization-message" in out.stderr


@pytest.fixture
def mfa_world(world):
    w = world
    device = w.iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]
    w.serial, w.seed = device["SerialNumber"], device["Base32StringSeed"].decode()
    now = int(time.time()) // 30
    w.iam.enable_mfa_device(UserName="alice", SerialNumber=w.serial,
                            AuthenticationCode1=totp(w.seed, now - 2), AuthenticationCode2=totp(w.seed, now - 1))
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    w.admin = w.iam.create_role(RoleName="admin", AssumeRolePolicyDocument=trust(w.alice_arn, mfa))["Role"]["Arn"]
    w.audit = w.iam.create_role(RoleName="audit", AssumeRolePolicyDocument=trust(w.alice_arn, mfa))["Role"]["Arn"]
    return w


def run_in_pty(argv, env, answers, timeout=60):
    """Runs argv with a pseudo-terminal as its controlling terminal; each
    time `MFA code` is prompted, types the next answer. Returns (status,
    everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    shown, pending, deadline = b"", list(answers), time.time() + timeout
    prompts_seen = 0
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
        while shown.count(b"MFA code for") > prompts_seen and pending:
            prompts_seen += 1
            os.write(fd, pending.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_mfa_prompt_on_the_terminal_while_stdout_is_captured(mfa_world):
    w = mfa_world
    refused = w.latchkey("assume", w.admin, check=False)  # no MFA given: the hint says so
    assert refused.returncode != 0 and "requires MFA (aws:MultiFactorAuthPresent)" in refused.stderr
    code = totp(w.seed, int(time.time()) // 30)
    script = f'eval "$(latchkey assume {w.admin} --serial-number {w.serial} --session-name mfa)"; {WHO}'
    status, shown = run_in_pty(["bash", "-c", script], w.env(), ["12345", code])
    assert status == 0, shown
    assert "an MFA code is six digits" in shown  # "12345" was refused before any call
    assert w.session_arn("admin", "mfa") in shown
    assert w.secret not in shown


def test_mfa_from_the_profile_and_one_code_for_several_roles(mfa_world):
    w = mfa_world
    (w.tmp / "credentials").write_text(f"[base]\naws_access_key_id = {w.key}\naws_secret_access_key = {w.secret}\n")
    (w.tmp / "config").write_text(f"""
[profile admin]
role_arn = {w.admin}
source_profile = base
mfa_serial = {w.serial}
latchkey_mfa_session = true

[profile audit]
role_arn = {w.audit}
source_profile = base
mfa_serial = {w.serial}
latchkey_mfa_session = true
""")
    env = w.env(keys=False)
    code = totp(w.seed, int(time.time()) // 30)
    # No terminal and no code: a clear refusal, not a hang.
    out = w.latchkey("assume", "admin", env=env, check=False)
    assert out.returncode != 0 and "--token-code" in out.stderr
    # A bad code is refused before any call.
    out = w.latchkey("assume", "admin", "--token-code", "12ab56", env=env, check=False)
    assert out.returncode != 0 and "six digits" in out.stderr

    status, shown = run_in_pty(["bash", "-c", f'eval "$(latchkey assume admin --session-name first)"; {WHO}'], env, [code])
    assert status == 0, shown
    assert w.session_arn("admin", "first") in shown
    # The MFA session is reused for another role: no terminal, no code, yet it works.
    out = w.sh(f'eval "$(latchkey assume audit --session-name second)"; {WHO}', env=env)
    assert out.stdout.strip() == w.session_arn("audit", "second")
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in w.cache.iterdir())


def test_whoami(world):
    w = world
    out = w.latchkey("whoami")
    assert out.stdout.startswith(w.alice_arn) and "never" in out.stdout
    out = w.sh(f'eval "$(latchkey assume {w.one} --session-name who)"; latchkey whoami')
    assert out.stdout.startswith(w.session_arn("one", "who")) and "left" in out.stdout
    expired = w.latchkey("whoami", env=w.env(AWS_SESSION_TOKEN="x", AWS_CREDENTIAL_EXPIRATION="2020-01-01T00:00:00Z"),
                         check=False)
    assert expired.returncode != 0 and "expired" in expired.stderr
    missing = w.latchkey("whoami", env=w.env(keys=False, AWS_EC2_METADATA_DISABLED="true"), check=False)
    assert missing.returncode != 0 and "credentials" in missing.stderr
    unreachable = w.latchkey("whoami", "--endpoint-url", "http://127.0.0.1:9", check=False)
    assert unreachable.returncode != 0 and "Connection refused" in unreachable.stderr
    assert "http://127.0.0.1:9" in unreachable.stderr
    assert_no_secret(expired.stderr + missing.stderr + unreachable.stderr, w.secret)


def test_no_secrets_on_a_terminal(world):
    w = world
    status, shown = run_in_pty([BIN, "assume", w.one], w.env(), [])
    assert status == 0
    assert "not printed to a terminal" in shown and 'eval "$(latchkey assume' in shown
    assert "AWS_SECRET_ACCESS_KEY" not in shown and "export" not in shown.replace("exports", "")


def test_refresh_replaces_the_top_and_keeps_the_stack(world):
    w = world
    out = w.sh(f"""
        set -e
        eval "$(latchkey assume {w.one} --session-name rr)"
        echo "BEFORE=$AWS_ACCESS_KEY_ID"
        latchkey refresh --quiet  # not near expiry: nothing to do
        # Pretend the session is about to expire, here and in the cache.
        export LATCHKEY_EXPIRATION="$(date -u -d '+2 minutes' +%Y-%m-%dT%H:%M:%SZ)"
        for f in "$XDG_CACHE_HOME"/latchkey/*.json; do
            python3 -c 'import json,sys; p=sys.argv[1]; e=json.load(open(p)); e["Credentials"]["Expiration"]=sys.argv[2]; json.dump(e, open(p,"w"))' "$f" "$LATCHKEY_EXPIRATION"
        done
        eval "$(latchkey refresh)"
        echo "AFTER=$AWS_ACCESS_KEY_ID"
        {WHO}
        eval "$(latchkey unassume)"
        {WHO}
    """)
    lines = out.stdout.splitlines()
    before = next(l for l in lines if l.startswith("BEFORE="))
    after = next(l for l in lines if l.startswith("AFTER="))
    assert before != after and after.startswith("AFTER=ASIA")
    assert [l for l in lines if l.startswith("arn:")] == [w.session_arn("one", "rr"), w.alice_arn]


def test_the_prompt_hook_refreshes_before_expiry(world):
    w = world
    out = w.sh(f"""
        set -e
        eval "$(latchkey shell-init bash --refresh)"
        case ";$PROMPT_COMMAND;" in *";__latchkey_refresh;"*) echo HOOKED ;; esac
        latchkey assume {w.one} --session-name hook
        echo "BEFORE=$AWS_ACCESS_KEY_ID"
        __latchkey_refresh
        echo "SAME=$AWS_ACCESS_KEY_ID"
        export LATCHKEY_EXPIRATION="$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)"
        for f in "$XDG_CACHE_HOME"/latchkey/*.json; do
            python3 -c 'import json,sys; p=sys.argv[1]; e=json.load(open(p)); e["Credentials"]["Expiration"]=sys.argv[2]; json.dump(e, open(p,"w"))' "$f" "$LATCHKEY_EXPIRATION"
        done
        __latchkey_refresh
        echo "AFTER=$AWS_ACCESS_KEY_ID"
        {WHO}
    """)
    lines = out.stdout.splitlines()
    value = lambda k: next(l for l in lines if l.startswith(k + "=")).split("=", 1)[1]  # noqa: E731
    assert "HOOKED" in lines
    assert value("BEFORE") == value("SAME") != value("AFTER")
    assert w.session_arn("one", "hook") in lines
