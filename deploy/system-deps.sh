#!/usr/bin/env bash
# Installs what building and testing Vigil needs beyond Rust itself, from Debian's packages:
# libpq (diesel's Postgres driver links it) and pkg-config; for the tests, a real SMTP server
# (python3-aiosmtpd) and a real browser driven over WebDriver (chromium, chromium-driver).
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"
missing=()
[ -e /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
apt_install_missing system-deps.sh "${missing[@]}"
