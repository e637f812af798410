#!/usr/bin/env bash
# Renders the diesel schema of the migrations in a throwaway database.
#   deploy/schema.sh check   fail when store/src/schema.rs differs from what the migrations give
#   deploy/schema.sh write   rewrite store/src/schema.rs
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
server=${VIGIL_TEST_ADMIN_URL:-$(deploy/postgres.sh url)}
server=${server%%\?*}
server=${server%/*}
scratch="vigil_schema_$$"
psql "$server/postgres" -qc "CREATE DATABASE $scratch"
trap 'psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $scratch WITH (FORCE)"' EXIT
rendered=$(mktemp)
DATABASE_URL="$server/$scratch" diesel migration run --migration-dir migrations --config-file /dev/null >/dev/null
DATABASE_URL="$server/$scratch" diesel print-schema > "$rendered"
case "${1:-check}" in
  write) cp "$rendered" store/src/schema.rs; echo "wrote store/src/schema.rs" ;;
  check)
    if ! diff -u store/src/schema.rs "$rendered"; then
      echo "store/src/schema.rs does not match the migrations: run 'make schema' and commit the result" >&2
      exit 1
    fi
    echo "store/src/schema.rs matches the migrations"
    ;;
esac
rm -f "$rendered"
