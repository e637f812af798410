#!/usr/bin/env bash
# Installs what `make bench` drives the server and Postgres with, from Debian's packages: wrk (HTTP
# load), pgbench (postgresql-client) and, for `make loadtest`'s own restartable cluster, the
# server's binaries (postgresql).
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
apt_install_missing bench-deps.sh "${missing[@]}"
