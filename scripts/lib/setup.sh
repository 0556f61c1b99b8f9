# Sourced by scripts/test: makes a fresh machine able to run every test.
#
#   test_setup_packages   installs the Debian packages the tests need, when missing
#   test_setup_postgres   finds or starts a PostgreSQL server, exports
#                         LATCHKEY_TEST_DATABASE_URL
#   test_setup_venv       the pinned aws CLI, boto3 and pytest in a venv
#   test_setup_cleanup    stops and removes what test_setup_postgres started
#
# Each step says on one line what it installs or starts, and why; nothing is
# installed that is already there.

# The Debian packages the tests need, one a line: the package, a shell test
# that passes when it is already there, and why the tests need it. Packages
# that share a reason are installed together under one message.
TEST_PACKAGES=(
    "python3-venv|python3 -c 'import venv, ensurepip'|the end-to-end suite puts its pinned aws CLI and boto3 in a venv"
    "postgresql-client|command -v psql && command -v pg_isready|the PostgreSQL tests create their databases with psql"
    "fish|command -v fish|the client tests eval latchkey's output in those shells"
    "zsh|command -v zsh|the client tests eval latchkey's output in those shells"
)

# apt-get install, as root or through sudo; `apt-get update` once per run.
test_setup_apt_updated=
test_setup_apt_install() {
    local as=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: installing $* needs root, and sudo is not installed: install $* and run again" >&2
            return 1
        fi
        as=(sudo)
    fi
    # apt's chatter goes to a log, shown only when it fails.
    local log status=0
    log="$(mktemp "${TMPDIR:-/tmp}/latchkey-apt.XXXXXX")"
    if [ -z "$test_setup_apt_updated" ]; then
        "${as[@]}" apt-get update -qq >"$log" 2>&1 || status=$?
        test_setup_apt_updated=1
    fi
    [ "$status" != 0 ] || "${as[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 || status=$?
    if [ "$status" != 0 ]; then
        echo "error: apt-get could not install $*:" >&2
        cat "$log" >&2
    fi
    rm -f "$log"
    return "$status"
}

test_setup_packages() {
    local entry pkg check why missing=() reasons=()
    local -A by_reason=()
    for entry in "${TEST_PACKAGES[@]}"; do
        IFS='|' read -r pkg check why <<<"$entry"
        if ! (eval "$check") >/dev/null 2>&1; then
            missing+=("$pkg")
            [ -n "${by_reason[$why]:-}" ] || reasons+=("$why")
            by_reason[$why]+="${by_reason[$why]:+, }$pkg"
        fi
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    for why in "${reasons[@]}"; do
        echo "==> installing ${by_reason[$why]} ($why)"
    done
    test_setup_apt_install "${missing[@]}"
}

# PostgreSQL for the Rust store suite and tests/e2e/test_postgres.py (they fail,
# never skip, without one). In order: LATCHKEY_TEST_DATABASE_URL when set; the
# server on 127.0.0.1:$LATCHKEY_TEST_POSTGRES_PORT (default 5432) when one
# answers; else a throwaway cluster in a temp dir on a free port, stopped and
# removed by test_setup_cleanup.
test_setup_pgdata=
test_setup_pg_ctl=()
test_setup_postgres() {
    if [ -n "${LATCHKEY_TEST_DATABASE_URL:-}" ]; then
        echo "==> PostgreSQL for the tests: LATCHKEY_TEST_DATABASE_URL as given"
        return
    fi
    local probe="${LATCHKEY_TEST_POSTGRES_PORT:-5432}"
    if pg_isready -q -h 127.0.0.1 -p "$probe" -t 5; then
        export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$probe/postgres"
        echo "==> PostgreSQL for the tests: the server on 127.0.0.1:$probe"
        return
    fi
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        echo "==> installing postgresql (no PostgreSQL answers on 127.0.0.1:$probe; the tests get a throwaway cluster)"
        test_setup_apt_install postgresql
    fi
    local bin port as=()
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    test_setup_pgdata="$(mktemp -d "${TMPDIR:-/tmp}/latchkey-test-pg.XXXXXX")"
    # initdb refuses to run as root: the package's postgres user owns the cluster then.
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$test_setup_pgdata"
        as=(runuser -u postgres --)
    fi
    test_setup_pg_ctl=("${as[@]}" "$bin/pg_ctl" -D "$test_setup_pgdata/data")
    echo "==> PostgreSQL for the tests: none answers on 127.0.0.1:$probe, starting a throwaway cluster on 127.0.0.1:$port ($test_setup_pgdata)"
    # From /, which the postgres user can read whatever the caller's directory.
    (cd / && "${as[@]}" "$bin/initdb" -D "$test_setup_pgdata/data" -U postgres --auth=trust --no-sync >"$test_setup_pgdata/initdb.log" 2>&1) || {
        cat "$test_setup_pgdata/initdb.log" >&2
        return 1
    }
    # Throwaway data: no fsync. The suites open many pools at once.
    (cd / && "${test_setup_pg_ctl[@]}" -l "$test_setup_pgdata/log" -w start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $test_setup_pgdata -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null) || {
        cat "$test_setup_pgdata/log" >&2
        return 1
    }
    export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

test_setup_cleanup() {
    if [ -n "$test_setup_pgdata" ]; then
        if [ "${#test_setup_pg_ctl[@]}" -gt 0 ]; then
            (cd / && "${test_setup_pg_ctl[@]}" -m fast -w stop >/dev/null 2>&1) || true
        fi
        rm -rf "$test_setup_pgdata"
        echo "==> stopped and removed the throwaway PostgreSQL cluster"
        test_setup_pgdata=
    fi
}

# The aws CLI, boto3 and pytest, pinned by tests/e2e/requirements.txt, in $1;
# (re)installed when the requirements change.
test_setup_venv() {
    local venv="$1"
    if [ ! -x "$venv/bin/pytest" ] || ! cmp -s tests/e2e/requirements.txt "$venv/.requirements"; then
        echo "==> installing the aws CLI, boto3 and pytest into $venv (pinned by tests/e2e/requirements.txt)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
        cp tests/e2e/requirements.txt "$venv/.requirements"
    fi
}
