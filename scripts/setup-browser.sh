#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need: Debian's Chromium, driven by Playwright's Python
# package (installed with the [dev] extra) through executable_path. Playwright's own browser download is
# not used. Idempotent: does nothing when chromium is already there.
#
#   bash scripts/setup-browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "Chromium: $(chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

echo "==> Installing Debian's chromium"
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
    as_root apt-get update -q
fi
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
echo "Chromium: $(chromium --version)"
