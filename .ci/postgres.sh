# Sourced by .ci/run: makes a PostgreSQL server available to the tests and
# exports LATCHKEY_TEST_DATABASE_URL (the PostgreSQL tests fail, never skip,
# without one). Uses, in order: LATCHKEY_TEST_DATABASE_URL when already set;
# the machine's server when 127.0.0.1:5432 answers; else Debian's
# `postgresql` package, with a throwaway cluster in a temp dir on its own
# port, stopped when the CI run ends (ci_postgres_stop).

ci_postgres_stop() { :; }

ci_postgres_start() {
    if ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client
    fi
    if [ -n "${LATCHKEY_TEST_DATABASE_URL:-}" ]; then
        echo "==> PostgreSQL for the tests: LATCHKEY_TEST_DATABASE_URL as given"
        return
    fi
    if [ -z "${LATCHKEY_CI_OWN_POSTGRES:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
        export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        echo "==> PostgreSQL for the tests: the machine's, on 127.0.0.1:5432"
        return
    fi
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    CI_PGDATA="$(mktemp -d "${TMPDIR:-/tmp}/latchkey-ci-pg.XXXXXX")"
    local port="${LATCHKEY_CI_POSTGRES_PORT:-55432}"
    # initdb refuses to run as root: the package's postgres user owns the cluster then.
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$CI_PGDATA"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$bin/initdb" -D "$CI_PGDATA/data" -U postgres --auth=trust >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$CI_PGDATA/data" -l "$CI_PGDATA/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $CI_PGDATA -c max_connections=300" start >/dev/null
    CI_PG_CTL=("${as[@]}" "$bin/pg_ctl" -D "$CI_PGDATA/data")
    ci_postgres_stop() {
        "${CI_PG_CTL[@]}" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$CI_PGDATA"
    }
    export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "==> PostgreSQL for the tests: a throwaway cluster on 127.0.0.1:$port"
}
