#!/usr/bin/env bash
# HTTP load benchmark of latchkey (and moto_server for comparison).
# See bench/README.md. Every process started here is stopped on exit.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/load.sh [--new-connection] [--roles N] [--audit] [--database-url URL] [--writes] [--s3] [options]

  (default)          keep-alive: latchkey and moto_server, AssumeRole and
                     GetCallerIdentity at the same connection count, plus
                     latchkey AssumeRole paced at half its peak rate and at 1
                     connection
  --new-connection   the same, one TCP connection per request
                     (Connection: close)
  --roles N          latchkey only: AssumeRole with 10 roles vs. N roles
                     bulk-loaded into SQLite; startup time and RSS
  --audit            latchkey only: AssumeRole with the durable audit trail
                     vs. the same server with audit writes discarded
                     (LATCHKEY_UNSAFE_AUDIT_DISCARD=1), interleaved
  --database-url URL latchkey only: AssumeRole and GetCallerIdentity on the
                     embedded store vs. on PostgreSQL, interleaved. URL names
                     any database on the server (e.g. postgres://postgres@127.0.0.1:5432/postgres);
                     a throwaway database is created there (psql) and dropped
  --writes           latchkey only: IAM write cycles (CreateRole, PutRolePolicy,
                     TagRole, DeleteRolePolicy, DeleteRole) from --connections
                     processes against 10 roles vs. N roles (--roles, default
                     100000) on the embedded store, interleaved; then 1,000 and
                     10,000 CreateRole calls in a row on fresh servers
  --writes --database-url URL
                     two nodes on one PostgreSQL database (10 roles, and N in a
                     second database): write cycles on node A at --pace, how
                     long node B takes to show each new role, and B's CPU per
                     write
  --s3               S3 GetObject of a 4 KiB and a 1 MiB object through
                     latchkey's S3 front end vs. straight to the upstream
                     (latchkey-s3-upstream, s3s-fs), presigned GETs,
                     interleaved; with --new-connection, one TCP connection
                     per request

options:
  --duration S       seconds per wrk run (default 12)
  --connections C    wrk connections (default 4)
  --threads T        wrk threads (default 1)
  --repeat R         run each load R times, interleaved (default 1)
  --no-moto          skip moto_server (default and --new-connection modes)
  --pace P           --writes with --database-url: cycles/s on node A (default 50)
  --create-cap S     --writes: stop each CreateRole series after S seconds and
                     estimate the rest (default 120)
  --out DIR          results directory (default bench/results/<time>-<mode>)
env:
  LATCHKEY_BIN=PATH  use this binary instead of `cargo build --release -p latchkey`
  LATCHKEY_BIN_NOTE  free text recorded next to the binary (e.g. what it was built from)
  LATCHKEY_S3_UPSTREAM_BIN=PATH
                     --s3: the upstream server (default: latchkey-s3-upstream
                     next to the latchkey binary)
EOF
}

ORIG_ARGS="$*"
MODE=keepalive
S3=0
ROLES=0
WRITES=0
PACE=50
CREATE_CAP=120
PG_ADMIN=
DURATION=12
CONNS=4
THREADS=1
REPEAT=1
MOTO=1
OUT=
while [ $# -gt 0 ]; do
    case "$1" in
        --new-connection) MODE=newconn ;;
        --roles) ROLES=$2; MODE=roles; shift ;;
        --audit) MODE=audit ;;
        --database-url) PG_ADMIN=$2; MODE=postgres; shift ;;
        --writes) WRITES=1 ;;
        --s3) S3=1 ;;
        --pace) PACE=$2; shift ;;
        --create-cap) CREATE_CAP=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --repeat) REPEAT=$2; shift ;;
        --no-moto) MOTO=0 ;;
        --out) OUT=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "load.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$WRITES" = 1 ]; then
    [ "$ROLES" -gt 0 ] || ROLES=100000
    if [ -n "$PG_ADMIN" ]; then MODE=pgwrites; else MODE=writes; fi
fi
if [ "$S3" = 1 ]; then
    [ "$MODE" = keepalive ] || [ "$MODE" = newconn ] || { echo "load.sh: --s3 goes with --new-connection only" >&2; exit 2; }
    [ "$WRITES" = 0 ] || { echo "load.sh: --s3 and --writes are separate runs" >&2; exit 2; }
    [ "$MODE" = newconn ] && MODE=s3-newconn || MODE=s3
fi
[ "$MODE" = postgres ] && MOTO=0
if [ "$MODE" != keepalive ] && [ "$MODE" != newconn ]; then
    MOTO=0
fi
if [ "$MODE" = roles ] || [ "$WRITES" = 1 ]; then
    [ "$ROLES" -ge 10 ] || { echo "load.sh: --roles needs at least 10" >&2; exit 2; }
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
VENV=$HERE/.venv
PY=$VENV/bin/python
OUT=${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)-$MODE}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ cleanup
WORK=$(mktemp -d /tmp/latchkey-bench.XXXXXX)
PIDS=()
PGDBS=()
cleanup() {
    local pid db
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for db in "${PGDBS[@]}"; do
        psql -X -q -d "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Kills PID if this script goes away without running its trap (e.g. SIGKILL).
watchdog() {
    local pid=$1 me=$$
    ( while kill -0 "$me" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null || true ) >/dev/null 2>&1 &
    PIDS+=($!)
}

# ------------------------------------------------------------------ prerequisites
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
[ -z "$PG_ADMIN" ] || command -v psql >/dev/null || need_apt+=(postgresql-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} with apt-get"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
STAMP=$VENV/.requirements.sha256
WANT=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$PY" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$WANT" > "$STAMP"
fi

if [ -n "${LATCHKEY_BIN:-}" ]; then
    BIN=$LATCHKEY_BIN
    log "using LATCHKEY_BIN=$BIN (not building)"
else
    if [ "$S3" = 1 ] && [ -z "${LATCHKEY_S3_UPSTREAM_BIN:-}" ]; then
        log "cargo build --release -p latchkey -p latchkey-s3-upstream"
        (cd "$ROOT" && cargo build --release -p latchkey -p latchkey-s3-upstream)
    else
        log "cargo build --release -p latchkey"
        (cd "$ROOT" && cargo build --release -p latchkey)
    fi
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/latchkey
fi
[ -x "$BIN" ] || { echo "load.sh: no binary at $BIN" >&2; exit 1; }
UPBIN=
if [ "$S3" = 1 ]; then
    UPBIN=${LATCHKEY_S3_UPSTREAM_BIN:-$(dirname "$BIN")/latchkey-s3-upstream}
    [ -x "$UPBIN" ] || { echo "load.sh: no latchkey-s3-upstream at $UPBIN (build it: cargo build --release -p latchkey-s3-upstream, or set LATCHKEY_S3_UPSTREAM_BIN)" >&2; exit 1; }
fi

# ------------------------------------------------------------------ record the setting
{
    echo "command: bench/load.sh $ORIG_ARGS"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (work tree modified)')"
    echo "binary: $BIN ($(stat -c %y "$BIN" 2>/dev/null))${LATCHKEY_BIN_NOTE:+ - $LATCHKEY_BIN_NOTE}"
    [ -z "$UPBIN" ] || echo "s3 upstream: $UPBIN ($(stat -c %y "$UPBIN" 2>/dev/null); $("$UPBIN" --version 2>&1 | head -n 1), s3s-fs 0.14.1)"
    echo "mode: $MODE roles=$ROLES duration=${DURATION}s connections=$CONNS threads=$THREADS repeat=$REPEAT moto=$MOTO$([ "$WRITES" = 0 ] || echo " pace=$PACE create-cap=${CREATE_CAP}s")"
    echo "nproc: $(nproc)"
    lscpu | head -n 15
    echo "load before: $(cat /proc/loadavg)"
    echo "wrk: $(wrk -v 2>&1 | head -n 1)"
    echo "moto: $("$PY" -c 'import importlib.metadata as m; print(m.version("moto"))')"
    echo "python: $("$PY" -V 2>&1), botocore $("$PY" -c 'import botocore; print(botocore.__version__)')"
    [ -z "$PG_ADMIN" ] || echo "postgresql: $(psql -X -At -d "$PG_ADMIN" -c 'SHOW server_version' 2>&1)"
} > "$OUT/machine.txt"

# ------------------------------------------------------------------ helpers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# start_latchkey NAME DATA_DIR [serve args...] -> sets LK_PID, LK_URL, LK_READY_MS
# (extra environment for the server in LK_ENV, e.g. LK_ENV=X=1)
start_latchkey() {
    local name=$1 dir=$2 port t0 code
    shift 2
    port=$(free_port)
    t0=$(now_ms)
    env LATCHKEY_LOG=warn ${LK_ENV:-} "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$port" "$@" 2>>"$OUT/$name.log" &
    LK_PID=$!
    PIDS+=("$LK_PID")
    watchdog "$LK_PID"
    LK_URL=http://127.0.0.1:$port
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$LK_URL/healthz" || true)
        [ "$code" = 200 ] && break
        kill -0 "$LK_PID" 2>/dev/null || { echo "latchkey exited; see $OUT/$name.log" >&2; exit 1; }
        [ $(( $(now_ms) - t0 )) -lt 120000 ] || { echo "latchkey not ready after 120 s" >&2; exit 1; }
        sleep 0.01
    done
    LK_READY_MS=$(( $(now_ms) - t0 ))
    log "$name ready in ${LK_READY_MS} ms at $LK_URL (pid $LK_PID)"
}

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
# utime+stime of a process (all its threads), in clock ticks
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)

# load LABEL SERVER STATE URL ACTION CONNS PID [DELAY_MS] [extra k=v...]
load() {
    local label=$1 server=$2 state=$3 url=$4 action=$5 conns=$6 pid=$7 delay=${8:-0}
    shift 8
    local c0 c1 lua=$WORK/$label.lua txt=$OUT/$label.$(date +%H%M%S).txt samples=$WORK/rss.$label spid peak
    local close=; case $MODE in newconn|s3-newconn) close=--connection-close ;; esac
    # Signed just before use: SigV4 accepts a replay for 15 minutes.
    case $action in
        GetObject-*)
            # Presigned (query SigV4, 15 minutes) for the server it is sent to.
            "$PY" "$HERE/bench.py" s3-sign --state "$state" --target "$server" --endpoint "$url" \
                --object "${action#GetObject-}" $close --out "$lua" ;;
        *)
            "$PY" "$HERE/bench.py" sign --state "$state" --endpoint "$url" --action "$action" $close --delay-ms "$delay" --out "$lua" ;;
    esac
    : > "$samples"
    ( while kill -0 "$pid" 2>/dev/null; do ps -o rss= -p "$pid" >> "$samples" 2>/dev/null || true; sleep 0.25; done ) &
    spid=$!
    PIDS+=("$spid")
    local note=; [ "$delay" = 0 ] || note=", ${delay} ms between requests"
    log "$label: wrk -t$THREADS -c$conns -d${DURATION}s ($action on $server$note)"
    c0=$(cpu_ticks "$pid")
    local u0= u1= ucpu=; [ -z "${UPSTREAM_CPU_PID:-}" ] || u0=$(cpu_ticks "$UPSTREAM_CPU_PID")
    wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --timeout 10s --latency -s "$lua" "$url/" > "$txt" 2>&1 || { cat "$txt" >&2; exit 1; }
    c1=$(cpu_ticks "$pid")
    [ -z "$u0" ] || { u1=$(cpu_ticks "$UPSTREAM_CPU_PID"); ucpu=upstream_cpu_s=$(awk -v a="$u0" -v b="$u1" -v t="$TCK" 'BEGIN{printf "%.2f", (b-a)/t}'); }
    kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
    peak=$(sort -n "$samples" | tail -n 1)
    "$PY" "$HERE/bench.py" record --results "$RESULTS" --label "$label" --server "$server" --action "$action" \
        --mode "$MODE" --roles "${ROLES_NOW:-10}" --connections "$conns" --wrk "$txt" rss_peak_kb="${peak:-0}" \
        server_cpu_s="$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN{printf "%.2f", (b-a)/t}')" $ucpu "$@"
    grep -E 'Requests/sec|99%|50%|Non-2xx|Socket errors' "$txt" | sed "s/^/  $label: /" >&2
    LAST_RPS=$("$PY" "$HERE/bench.py" rps "$txt")
}

fact() { "$PY" "$HERE/bench.py" record --results "$RESULTS" --label "$1" "${@:2}"; }

# Stops the seeded server ($LK on $DATA) and makes BULK, a copy of its data
# dir holding $ROLES roles in all, bulk-loaded while no server runs.
make_bulk_copy() {
    local t0
    stop_pid "$LK"
    BULK=$WORK/latchkey-bulk
    cp -a "$DATA" "$BULK"
    t0=$(now_ms)
    "$PY" "$HERE/bench.py" load-roles --state "$WORK/latchkey.json" --db "$BULK/latchkey.db" --total "$ROLES"
    fact bulk-load load_ms=$(( $(now_ms) - t0 )) roles="$ROLES" db_bytes="$(stat -c %s "$BULK/latchkey.db")"
}

# cpu_s TICKS0 TICKS1: seconds between two cpu_ticks readings
cpu_s() { awk -v a="$1" -v b="$2" -v t="$TCK" 'BEGIN{printf "%.3f", (b-a)/t}'; }

# writes LABEL ROOT_JSON URL PID FOLLOWER_PID ROLES [bench.py writes args...]
# One run of `bench.py writes` against URL (FOLLOWER_PID: a second node on the
# same database whose CPU is recorded too, or -).
writes() {
    local label=$1 root=$2 url=$3 pid=$4 fpid=$5 roles=$6 json c0 c1 f0= f1= fcpu=
    shift 6
    json=$OUT/$label.$(date +%H%M%S).json
    log "$label: bench.py writes $* ($roles roles, ${DURATION}s)"
    c0=$(cpu_ticks "$pid"); [ "$fpid" = - ] || f0=$(cpu_ticks "$fpid")
    "$PY" "$HERE/bench.py" writes --root "$root" --endpoint "$url" --duration "$DURATION" --out "$json" "$@"
    c1=$(cpu_ticks "$pid"); [ "$fpid" = - ] || { f1=$(cpu_ticks "$fpid"); fcpu=follower_cpu_s=$(cpu_s "$f0" "$f1"); }
    "$PY" "$HERE/bench.py" record --results "$RESULTS" --label "$label" --mode "$MODE" --roles "$roles" \
        --json "$json" server_cpu_s="$(cpu_s "$c0" "$c1")" $fcpu
}

# create_roles COUNT: `bench.py create-roles` on a fresh server (its own `latchkey init`)
create_roles() {
    local count=$1 dir=$WORK/latchkey-create-$1 json=$OUT/latchkey-create-$1.json c0 c1
    "$BIN" init --data-dir "$dir" --output json > "$WORK/root-create-$count.json" 2>>"$OUT/latchkey-init.log"
    start_latchkey "latchkey-create-$count" "$dir"
    log "latchkey-create-$count: $count CreateRole calls in a row, 1 connection (cap ${CREATE_CAP}s)"
    c0=$(cpu_ticks "$LK_PID")
    "$PY" "$HERE/bench.py" create-roles --root "$WORK/root-create-$count.json" --endpoint "$LK_URL" \
        --count "$count" --time-cap "$CREATE_CAP" --out "$json"
    c1=$(cpu_ticks "$LK_PID")
    "$PY" "$HERE/bench.py" record --results "$RESULTS" --label "latchkey-create-$count" --mode "$MODE" --roles 0 \
        --connections 1 --json "$json" server_cpu_s="$(cpu_s "$c0" "$c1")"
    stop_pid "$LK_PID"
}

# new_pg_database [SUFFIX] -> sets PGURL: a new throwaway database on
# PG_ADMIN's server (dropped at exit)
new_pg_database() {
    local db=latchkey_bench_$(date +%s)_$$${1:+_$1}
    PGDBS+=("$db")
    psql -X -q -v ON_ERROR_STOP=1 -d "$PG_ADMIN" -c "CREATE DATABASE $db"
    PGURL=${PG_ADMIN%%\?*}
    PGURL=${PGURL%/*}/$db
}

# ------------------------------------------------------------------ --s3: the upstream store
LK_ARGS=()
if [ "$S3" = 1 ]; then
    UP_AK=BENCHUPSTREAM$(python3 -c 'import secrets; print(secrets.token_hex(4).upper())')
    UP_SK=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
    UPDATA=$WORK/s3-upstream-data
    mkdir -p "$UPDATA"
    t0=$(now_ms)
    "$UPBIN" --host 127.0.0.1 --port 0 --access-key "$UP_AK" --secret-key "$UP_SK" "$UPDATA" \
        > "$WORK/s3-upstream.out" 2>>"$OUT/s3-upstream.log" &
    UP_PID=$!
    PIDS+=("$UP_PID")
    watchdog "$UP_PID"
    until grep -q '^listening on ' "$WORK/s3-upstream.out" 2>/dev/null; do
        kill -0 "$UP_PID" 2>/dev/null || { echo "latchkey-s3-upstream exited; see $OUT/s3-upstream.log" >&2; exit 1; }
        [ $(( $(now_ms) - t0 )) -lt 30000 ] || { echo "latchkey-s3-upstream not ready after 30 s" >&2; exit 1; }
        sleep 0.01
    done
    UPURL=$(sed -n 's/^listening on //p' "$WORK/s3-upstream.out" | head -n 1)
    log "s3 upstream ready at $UPURL (pid $UP_PID)"
    LK_ARGS=(--s3-upstream "$UPURL")
    LK_ENV="LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID=$UP_AK LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY=$UP_SK"
fi

# ------------------------------------------------------------------ latchkey: init + seed
DATA=$WORK/latchkey-data
"$BIN" init --data-dir "$DATA" --output json > "$WORK/root.json" 2>>"$OUT/latchkey-init.log"
ROOT_AK=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$WORK/root.json")
ROOT_SK=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' "$WORK/root.json")

start_latchkey latchkey "$DATA" "${LK_ARGS[@]}"
LK_ENV=
LK=$LK_PID; LKURL=$LK_URL
sleep 1
fact latchkey-startup ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$LK")" roles=0
"$PY" "$HERE/bench.py" setup --endpoint "$LKURL" --access-key "$ROOT_AK" --secret-key "$ROOT_SK" --out "$WORK/latchkey.json"
ROLES_NOW=10

RATIOS=()
if [ "$S3" = 1 ]; then
    # ---------------------------------------------------------------- S3 GetObject: through latchkey vs direct
    # The bucket and objects are created through latchkey (so it knows the
    # bucket's owner) and so are stored in the upstream's data dir.
    "$PY" "$HERE/bench.py" s3-setup --state "$WORK/latchkey.json" --endpoint "$LKURL" --access-key "$ROOT_AK" \
        --secret-key "$ROOT_SK" --upstream "$UPURL" --upstream-access-key "$UP_AK" --upstream-secret-key "$UP_SK"
    fact s3-upstream-idle rss_idle_kb="$(rss_kb "$UP_PID")" objects_bytes="$(du -sb "$UPDATA" | cut -f1)"
    sleep 1
    for _ in $(seq 1 "$REPEAT"); do
        for object in 4KiB 1MiB; do
            UPSTREAM_CPU_PID=$UP_PID load "latchkey-GetObject-$object" latchkey "$WORK/latchkey.json" "$LKURL" \
                "GetObject-$object" "$CONNS" "$LK" 0 object_bytes="$([ $object = 4KiB ] && echo 4096 || echo 1048576)"
            load "upstream-GetObject-$object" upstream "$WORK/latchkey.json" "$UPURL" \
                "GetObject-$object" "$CONNS" "$UP_PID" 0 object_bytes="$([ $object = 4KiB ] && echo 4096 || echo 1048576)"
        done
    done
    sleep 2
    fact latchkey-after-load rss_idle_kb="$(rss_kb "$LK")"
    fact s3-upstream-after-load rss_idle_kb="$(rss_kb "$UP_PID")"
elif [ "$MODE" = audit ]; then
    # ---------------------------------------------------------------- durable audit vs discarded
    stop_pid "$LK"
    STUB=$WORK/latchkey-stub
    cp -a "$DATA" "$STUB"
    start_latchkey latchkey-audit "$DATA"
    A=$LK_PID; AURL=$LK_URL
    LK_ENV=LATCHKEY_UNSAFE_AUDIT_DISCARD=1 start_latchkey latchkey-audit-discarded "$STUB"
    B=$LK_PID; BURL=$LK_URL
    sleep 1
    for _ in $(seq 1 "$REPEAT"); do
        load latchkey-AssumeRole-audit latchkey "$WORK/latchkey.json" "$AURL" AssumeRole "$CONNS" "$A" 0
        load latchkey-AssumeRole-discarded latchkey "$WORK/latchkey.json" "$BURL" AssumeRole "$CONNS" "$B" 0
    done
    fact latchkey-audit-trail audit_dir_bytes="$(du -sb "$DATA/audit" | cut -f1)" events="$(cat "$DATA"/audit/*.jsonl | wc -l)"
    RATIOS+=(--ratio "latchkey-AssumeRole-audit:latchkey-AssumeRole-discarded:AssumeRole durable audit / audit discarded")
elif [ "$MODE" = roles ]; then
    # ---------------------------------------------------------------- 10 vs N roles
    make_bulk_copy

    start_latchkey latchkey-10 "$DATA"
    A=$LK_PID; AURL=$LK_URL
    sleep 2
    fact latchkey-10roles-startup ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$A")" roles=10
    start_latchkey latchkey-bulk "$BULK"
    B=$LK_PID; BURL=$LK_URL
    sleep 2
    fact "latchkey-${ROLES}roles-startup" ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$B")" roles="$ROLES"
    for _ in $(seq 1 "$REPEAT"); do
        ROLES_NOW=10 load latchkey-AssumeRole latchkey "$WORK/latchkey.json" "$AURL" AssumeRole "$CONNS" "$A" 0
        ROLES_NOW=$ROLES load latchkey-AssumeRole-bulk latchkey "$WORK/latchkey.json" "$BURL" AssumeRole "$CONNS" "$B" 0
    done
    ROLES_NOW=$ROLES load latchkey-GetCallerIdentity-bulk latchkey "$WORK/latchkey.json" "$BURL" GetCallerIdentity "$CONNS" "$B" 0
    sleep 2
    fact "latchkey-${ROLES}roles-after-load" rss_idle_kb="$(rss_kb "$B")" roles="$ROLES"
    RATIOS+=(--ratio "latchkey-AssumeRole-bulk:latchkey-AssumeRole:AssumeRole ${ROLES} roles / 10 roles")
elif [ "$MODE" = writes ]; then
    # ---------------------------------------------------------------- IAM writes: 10 vs N roles
    make_bulk_copy
    start_latchkey latchkey-10 "$DATA"
    A=$LK_PID; AURL=$LK_URL; A_READY=$LK_READY_MS
    start_latchkey latchkey-bulk "$BULK"
    B=$LK_PID; BURL=$LK_URL
    sleep 2
    fact latchkey-10roles-startup ready_ms="$A_READY" rss_idle_kb="$(rss_kb "$A")" roles=10
    fact "latchkey-${ROLES}roles-startup" ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$B")" roles="$ROLES"
    # What the driver reaches when the server costs little: its own ceiling.
    writes driver-ceiling "$WORK/root.json" "$AURL" "$A" - 10 --calibrate --connections "$CONNS"
    for _ in $(seq 1 "$REPEAT"); do
        writes latchkey-writes "$WORK/root.json" "$AURL" "$A" - 10 --state "$WORK/latchkey.json" --connections "$CONNS"
        writes latchkey-writes-bulk "$WORK/root.json" "$BURL" "$B" - "$ROLES" --state "$WORK/latchkey.json" --connections "$CONNS"
    done
    fact "latchkey-${ROLES}roles-after-writes" rss_idle_kb="$(rss_kb "$B")" roles="$ROLES"
    stop_pid "$A"; stop_pid "$B"
    create_roles 1000
    create_roles 10000
    RATIOS+=(--field-ratio "p50_us:latchkey-writes-bulk:latchkey-writes:write p50 latency ${ROLES} roles / 10 roles (target <= 1.5)"
             --ratio "latchkey-writes-bulk:latchkey-writes:writes/s ${ROLES} roles / 10 roles"
             --field-ratio "seconds_est:latchkey-create-10000:latchkey-create-1000:time for 10,000 CreateRole / 1,000 (target <= 12)")
elif [ "$MODE" = pgwrites ]; then
    # ---------------------------------------------------------------- two nodes on PostgreSQL
    stop_pid "$LK"
    declare -A NODE_A NODE_B URL_A URL_B
    for size in 10 "$ROLES"; do
        new_pg_database "$size"
        dir=$WORK/pg-$size-a
        "$BIN" init --data-dir "$dir" --database-url "$PGURL" --output json > "$WORK/root-pg-$size.json" 2>>"$OUT/latchkey-pg-init.log"
        start_latchkey "pg-$size-a" "$dir" --database-url "$PGURL"
        ak=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$WORK/root-pg-$size.json")
        sk=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' "$WORK/root-pg-$size.json")
        "$PY" "$HERE/bench.py" setup --endpoint "$LK_URL" --access-key "$ak" --secret-key "$sk" --out "$WORK/pg-$size.json"
        if [ "$size" != 10 ]; then
            stop_pid "$LK_PID"
            t0=$(now_ms)
            "$PY" "$HERE/bench.py" load-roles --state "$WORK/pg-$size.json" --database-url "$PGURL" --total "$size"
            fact pg-bulk-load load_ms=$(( $(now_ms) - t0 )) roles="$size"
            start_latchkey "pg-$size-a" "$dir" --database-url "$PGURL"
        fi
        NODE_A[$size]=$LK_PID; URL_A[$size]=$LK_URL
        fact "pg-$size-a-startup" ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$LK_PID")" roles="$size"
        # Node B: its own data dir, node A's master key, the same database.
        start_latchkey "pg-$size-b" "$WORK/pg-$size-b" --database-url "$PGURL" --master-key-file "$dir/master.key"
        NODE_B[$size]=$LK_PID; URL_B[$size]=$LK_URL
        fact "pg-$size-b-startup" ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$LK_PID")" roles="$size"
    done
    sleep 2
    for _ in $(seq 1 "$REPEAT"); do
        for size in 10 "$ROLES"; do
            tag=$([ "$size" = 10 ] || echo -bulk)
            # Visibility lag: B polled for every role A creates (B's CPU includes the polls).
            json=$OUT/pg-lag$tag.$(date +%H%M%S).json
            log "pg-lag$tag: bench.py follow at $PACE cycles/s ($size roles, ${DURATION}s)"
            c0=$(cpu_ticks "${NODE_A[$size]}"); f0=$(cpu_ticks "${NODE_B[$size]}")
            "$PY" "$HERE/bench.py" follow --root "$WORK/root-pg-$size.json" --state "$WORK/pg-$size.json" \
                --endpoint "${URL_A[$size]}" --follower "${URL_B[$size]}" --pace "$PACE" --duration "$DURATION" --out "$json"
            c1=$(cpu_ticks "${NODE_A[$size]}"); f1=$(cpu_ticks "${NODE_B[$size]}")
            "$PY" "$HERE/bench.py" record --results "$RESULTS" --label "pg-lag$tag" --mode "$MODE" --roles "$size" \
                --connections 1 --json "$json" server_cpu_s="$(cpu_s "$c0" "$c1")" follower_cpu_s="$(cpu_s "$f0" "$f1")"
            # B's CPU per write with nothing asking B: the same cycles, B untouched.
            writes "pg-writes$tag" "$WORK/root-pg-$size.json" "${URL_A[$size]}" "${NODE_A[$size]}" "${NODE_B[$size]}" "$size" \
                --state "$WORK/pg-$size.json" --connections 1 --pace "$PACE"
        done
    done
    RATIOS+=(--field-ratio "lag_p50_us:pg-lag-bulk:pg-lag:visibility lag p50 on node B, ${ROLES} roles / 10 roles"
             --field-ratio "lag_p99_us:pg-lag-bulk:pg-lag:visibility lag p99 on node B, ${ROLES} roles / 10 roles"
             --field-ratio "lag_from_send_p50_us:pg-lag-bulk:pg-lag:visibility lag p50 from sending CreateRole, ${ROLES} roles / 10 roles"
             --field-ratio "follower_cpu_us_per_req:pg-writes-bulk:pg-writes:node B CPU per write, ${ROLES} roles / 10 roles")
elif [ "$MODE" = postgres ]; then
    # ---------------------------------------------------------------- embedded vs PostgreSQL
    new_pg_database
    PGDIR=$WORK/latchkey-pg
    "$BIN" init --data-dir "$PGDIR" --database-url "$PGURL" --output json > "$WORK/root-pg.json" 2>>"$OUT/latchkey-pg-init.log"
    PG_AK=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$WORK/root-pg.json")
    PG_SK=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' "$WORK/root-pg.json")
    start_latchkey latchkey-pg "$PGDIR" --database-url "$PGURL"
    P=$LK_PID; PURL=$LK_URL
    sleep 1
    fact latchkey-pg-startup ready_ms="$LK_READY_MS" rss_idle_kb="$(rss_kb "$P")" roles=0
    "$PY" "$HERE/bench.py" setup --endpoint "$PURL" --access-key "$PG_AK" --secret-key "$PG_SK" --out "$WORK/latchkey-pg.json"
    for _ in $(seq 1 "$REPEAT"); do
        for action in AssumeRole GetCallerIdentity; do
            load "latchkey-$action" latchkey "$WORK/latchkey.json" "$LKURL" "$action" "$CONNS" "$LK" 0
            load "latchkey-pg-$action" latchkey-pg "$WORK/latchkey-pg.json" "$PURL" "$action" "$CONNS" "$P" 0
        done
    done
    sleep 2
    fact latchkey-pg-after-load rss_idle_kb="$(rss_kb "$P")" roles=10
    RATIOS+=(--ratio "latchkey-pg-AssumeRole:latchkey-AssumeRole:AssumeRole PostgreSQL / embedded"
             --ratio "latchkey-pg-GetCallerIdentity:latchkey-GetCallerIdentity:GetCallerIdentity PostgreSQL / embedded")
else
    # ---------------------------------------------------------------- latchkey vs moto
    if [ "$MOTO" = 1 ]; then
        MPORT=$(free_port)
        "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MPORT" > "$OUT/moto.log" 2>&1 &
        MOTO_PID=$!
        PIDS+=("$MOTO_PID")
        watchdog "$MOTO_PID"
        MURL=http://127.0.0.1:$MPORT
        for _ in $(seq 1 300); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$MURL/moto-api/" || true)" = 200 ] && break
            kill -0 "$MOTO_PID" 2>/dev/null || { echo "moto_server exited; see $OUT/moto.log" >&2; exit 1; }
            sleep 0.1
        done
        # moto ignores signatures; requests are signed for it anyway.
        "$PY" "$HERE/bench.py" setup --endpoint "$MURL" --access-key testing --secret-key testing --out "$WORK/moto.json"
        sleep 1
        fact moto-idle rss_idle_kb="$(rss_kb "$MOTO_PID")"
    fi
    fact latchkey-10roles-idle rss_idle_kb="$(rss_kb "$LK")" roles=10
    for _ in $(seq 1 "$REPEAT"); do
        for action in AssumeRole GetCallerIdentity; do
            load "latchkey-$action" latchkey "$WORK/latchkey.json" "$LKURL" "$action" "$CONNS" "$LK" 0
            [ "$action" = AssumeRole ] && PEAK=$LAST_RPS
            if [ "$MOTO" = 1 ]; then
                load "moto-$action" moto "$WORK/moto.json" "$MURL" "$action" "$CONNS" "$MOTO_PID" 0
            fi
        done
    done
    if [ "$MODE" = keepalive ]; then
        # Latency at about half the peak rate. wrk cannot hold a fixed rate
        # (wrk2 is not packaged), so each connection waits 1 ms between its
        # requests and the connection count is tuned to land near the target.
        # Closed loop: not corrected for coordinated omission.
        TARGET=$(( ${PEAK%.*} / 2 ))
        C=$(( TARGET / 800 )); [ "$C" -ge 1 ] || C=1
        SAVED=$DURATION; DURATION=3
        for trial in 1 2 3; do
            load "latchkey-AssumeRole-half-trial$trial" latchkey "$WORK/latchkey.json" "$LKURL" AssumeRole "$C" "$LK" 1 target_rps="$TARGET"
            NEXT=$(python3 -c "import sys; c,t,r=map(float,sys.argv[1:]); print(max(1,min(512,round(c*t/max(r,1)))))" "$C" "$TARGET" "$LAST_RPS")
            python3 -c "import sys; t,r=map(float,sys.argv[1:]); sys.exit(abs(r-t)/t > 0.08)" "$TARGET" "$LAST_RPS" && break
            C=$NEXT
        done
        DURATION=$SAVED
        load latchkey-AssumeRole-half latchkey "$WORK/latchkey.json" "$LKURL" AssumeRole "$C" "$LK" 1 target_rps="$TARGET"
        load latchkey-AssumeRole-c1 latchkey "$WORK/latchkey.json" "$LKURL" AssumeRole 1 "$LK" 0
    fi
    sleep 2
    fact latchkey-after-load rss_idle_kb="$(rss_kb "$LK")" roles=10
    RATIOS+=(--ratio "latchkey-AssumeRole:moto-AssumeRole:AssumeRole latchkey / moto"
             --ratio "latchkey-GetCallerIdentity:moto-GetCallerIdentity:GetCallerIdentity latchkey / moto"
             --ratio "latchkey-GetCallerIdentity:latchkey-AssumeRole:latchkey GetCallerIdentity / AssumeRole")
fi

echo "load after: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
{
    echo "# bench/load.sh $ORIG_ARGS"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    "$PY" "$HERE/bench.py" report "$RESULTS" "${RATIOS[@]}"
} > "$OUT/report.md"
cat "$OUT/report.md"
log "results in $OUT"
