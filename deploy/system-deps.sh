#!/usr/bin/env bash
# Installs what building and testing Vigil needs beyond Rust itself, from Debian's packages:
# libpq (diesel's Postgres driver links it) and pkg-config. Does nothing when they are present;
# names the packages when they are missing and we are not root.
set -euo pipefail
missing=()
[ -e /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps.sh: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "system-deps.sh: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
