#!/usr/bin/env bash
# Installs what the tests need (engines, images, Podman service, Chromium) and runs the test suite.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything the tests need is installed below, so a test that skips for want of an engine, image,
# browser or package is a failure (tests/conftest.py); only the real-cluster tests may skip.
export CI="${CI:-true}"
SETUP_SKIP_EXAMPLE=1 SETUP_EXTRAS=dev bash scripts/setup.sh
bash scripts/setup-podman.sh
bash scripts/setup-browser.sh
bash scripts/apt-install.sh docker-registry   # a real registry on loopback for the image pull test
set +e
if [ $# -gt 0 ]; then
    .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
    status=$?
else
    # The browser tests run in their own process: the playground's event loop and sessions stay
    # out of the library's tests.
    .venv/bin/python -m pytest -p no:cacheprovider -q tests/unit tests/integration
    status=$?
    .venv/bin/python -m pytest -p no:cacheprovider -q tests/browser || status=1
fi
set -e
# Leave nothing behind: containers and volumes of sessions whose owner process is gone.
.venv/bin/llm-sandbox gc >/dev/null 2>&1 || true
.venv/bin/llm-sandbox gc --backend podman >/dev/null 2>&1 || true
exit $status
