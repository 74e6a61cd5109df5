#!/usr/bin/env bash
# Installs what the tests need (engines, images, Podman service, Chromium) and runs the test suite.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_EXAMPLE=1 SETUP_EXTRAS=dev bash scripts/setup.sh
for extra in scripts/setup-podman.sh scripts/setup-browser.sh; do
    [ -f "$extra" ] && bash "$extra"
done
[ -f .ci/podman.env ] && . .ci/podman.env
set +e
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
status=$?
set -e
# Leave nothing behind: containers and volumes of sessions whose owner process is gone.
.venv/bin/llm-sandbox gc >/dev/null 2>&1 || true
exit $status
