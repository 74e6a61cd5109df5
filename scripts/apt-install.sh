#!/usr/bin/env bash
# Installs the Debian packages given that are not installed yet. Idempotent; quiet when nothing is missing.
#   bash scripts/apt-install.sh [--with-recommends] PACKAGE...
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
recommends=--no-install-recommends
if [ "${1-}" = --with-recommends ]; then recommends=; shift; fi
missing=()
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
printf '\n==> Installing Debian packages: %s\n' "${missing[*]}"
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
    as_root apt-get update -q
fi
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $recommends "${missing[@]}"
