#!/usr/bin/env bash
# Configure Podman for llm-sandbox and make sure its API service answers. Idempotent.
#
#   scripts/setup-podman.sh            # configure, start the service if needed, print the socket path
#
# Environment:
#   LLM_SANDBOX_PODMAN_SOCKET   socket path (default /run/llm-sandbox/podman.sock)
#   CONTAINERS_CONF_FILE        containers.conf to write (default /etc/containers/containers.conf)
#   LLM_SANDBOX_PODMAN_NO_INSTALL=1   fail instead of installing podman/runc when they are missing
#
# Two settings are needed on Debian 12 hosts with cgroup v1 (hybrid) and no CAP_SYS_RESOURCE:
#   [containers] default_ulimits: without it every container fails with "error setting rlimit type 7"
#                                 (podman copies the host's nofile/nproc hard limits, which it may not raise);
#   [engine] runtime = "runc":    crun fails on cgroup v1 hybrid.
# Existing settings in containers.conf are kept; only missing keys are added.
# Rootful only: rootless Podman needs subuid/subgid ranges, a user socket
# ($XDG_RUNTIME_DIR/podman/podman.sock) and, on cgroup v1, cannot apply memory/pids limits.
set -euo pipefail

SOCKET=${LLM_SANDBOX_PODMAN_SOCKET:-/run/llm-sandbox/podman.sock}
CONF=${CONTAINERS_CONF_FILE:-/etc/containers/containers.conf}
LOG=${LLM_SANDBOX_PODMAN_LOG:-/var/log/llm-sandbox-podman.log}

log() { printf 'setup-podman: %s\n' "$*" >&2; }

# Rootful Podman: configuration under /etc and a service in /run need root.
if [ "$(id -u)" != 0 ]; then exec sudo -E bash "$0" "$@"; fi

# --- the package ------------------------------------------------------------------------------
have_runc() { command -v runc >/dev/null || [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ]; }
if ! command -v podman >/dev/null || ! have_runc; then
    if [ -n "${LLM_SANDBOX_PODMAN_NO_INSTALL:-}" ] || ! command -v apt-get >/dev/null; then
        log "podman (and runc) are not installed; install them (Debian/Ubuntu: apt-get install podman runc)"
        exit 1
    fi
    bash "$(dirname "$0")/apt-install.sh" --with-recommends podman runc >&2
fi

# --- containers.conf -------------------------------------------------------------------------
# ensure_key SECTION KEY VALUE: add `KEY = VALUE` under [SECTION] unless KEY is already set there.
ensure_key() {
    local section=$1 key=$2 value=$3 tmp
    mkdir -p "$(dirname "$CONF")"
    [ -f "$CONF" ] || : >"$CONF"
    if awk -v s="[$section]" -v k="$key" '
        /^[[:space:]]*\[/ { gsub(/[[:space:]]/, ""); in_s = ($0 == s); next }
        in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { found = 1 }
        END { exit !found }' "$CONF"; then
        return 0
    fi
    tmp=$(mktemp "$CONF.XXXXXX")
    if grep -q "^[[:space:]]*\[$section\][[:space:]]*$" "$CONF"; then
        awk -v s="[$section]" -v line="$key = $value" '
            { print }
            { t = $0; gsub(/[[:space:]]/, "", t) }
            t == s && !done { print line; done = 1 }' "$CONF" >"$tmp"
    else
        { cat "$CONF"; [ -s "$CONF" ] && echo; echo "[$section]"; echo "$key = $value"; } >"$tmp"
    fi
    chmod 644 "$tmp"
    mv "$tmp" "$CONF"
    log "set [$section] $key = $value in $CONF"
}

ensure_key containers default_ulimits '["nofile=20000:20000", "nproc=32768:32768"]'
ensure_key engine runtime '"runc"'

# --- the API service -------------------------------------------------------------------------
answers() {
    # The Docker-compatible /_ping of the service; curl is not assumed.
    python3 - "$SOCKET" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
    sys.exit(0 if b" 200 " in s.recv(64) else 1)
except OSError:
    sys.exit(1)
PY
}

if ! answers; then
    mkdir -p "$(dirname "$SOCKET")"
    rm -f "$SOCKET"
    log "starting podman system service on unix://$SOCKET (log: $LOG)"
    # From /: the service and the conmon processes it spawns keep their working directory, which must
    # outlive this checkout (conmon fails with "write child: broken pipe" once it is deleted).
    (cd / && nohup setsid podman system service --time=0 "unix://$SOCKET" >>"$LOG" 2>&1 </dev/null &)
    for _ in $(seq 1 100); do
        answers && break
        sleep 0.1
    done
    if ! answers; then
        log "the podman service did not answer on $SOCKET within 10 s; see $LOG"
        exit 1
    fi
fi

echo "$SOCKET"
