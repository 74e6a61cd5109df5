#!/usr/bin/env bash
# Installs everything LLM Sandbox Toolkit needs on a Debian/Ubuntu machine, then runs a real sandboxed
# example. Idempotent: run it again at any time; finished steps are skipped.
#
#   bash scripts/setup.sh            # install, start the engine, build images, run the example
#   SETUP_SKIP_EXAMPLE=1 ...         # everything but the example (used by scripts/test.sh)
#   LLM_SANDBOX_LANGS="python r" ... # which images to build (default: all seven languages)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() { bash scripts/apt-install.sh "$@"; }

# 1. A container engine: use the user's Docker when it answers, else Debian's docker.io.
if ! docker info >/dev/null 2>&1; then
    apt_install docker.io
    if ! pgrep -x dockerd >/dev/null; then
        # A killed dockerd leaves pid files behind; a new one then hangs and fails.
        as_root rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
        step "Starting dockerd (no bridge network: sandboxes use network_mode=none)"
        as_root mkdir -p /var/log
        as_root sh -c 'cd / && nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/llm-sandbox-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not answer; see /var/log/llm-sandbox-dockerd.log" >&2; exit 1; }
fi
echo "Docker engine: $(docker version --format '{{.Server.Version}}')"

# 2. debootstrap builds the base image when no registry is reachable (the air-gapped path).
apt_install debootstrap debian-archive-keyring ca-certificates

# 3. The Python package with every extra, in .venv.
if [ ! -x .venv/bin/python ]; then
    step "Creating .venv"
    python3 -m venv .venv
fi
step "Installing llm-sandbox-toolkit and its extras into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${SETUP_EXTRAS:-all}]"

# 4. Images, built here from the package's Dockerfiles (rebuilt only when their inputs changed).
step "Building sandbox images: ${LLM_SANDBOX_LANGS:-all languages}"
# shellcheck disable=SC2086
.venv/bin/llm-sandbox images build ${LLM_SANDBOX_LANGS:-}

# 5. A real sandboxed run.
if [ -z "${SETUP_SKIP_EXAMPLE:-}" ]; then
    step "Running examples/quickstart.py in a sandbox"
    .venv/bin/python examples/quickstart.py
fi
