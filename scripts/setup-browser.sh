#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need: Debian's Chromium, driven by Playwright's Python
# package (installed with the [dev] extra) through executable_path. Playwright's own browser download is
# not used. Idempotent: does nothing when chromium is already there.
#
#   bash scripts/setup-browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "Chromium: $(chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

bash scripts/apt-install.sh chromium
echo "Chromium: $(chromium --version)"
