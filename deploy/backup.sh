#!/usr/bin/env bash
# Backs up and restores Vigil's database with Postgres' own tools: pg_dump's custom format
# (compressed, consistent as of one snapshot while Vigil keeps running, restorable table by table).
#
#   deploy/backup.sh dump FILE       dump the database into FILE
#   deploy/backup.sh restore FILE    restore FILE into the database, which must be empty (created, no
#                                    migrations applied); in one transaction: all or nothing
#
# The database is DATABASE_URL's, else the one deploy/postgres.sh finds. A restore keeps owners and
# grants, so the roles the dump names (the owner and vigil_runtime) must exist on the target server:
# `deploy/postgres.sh roles` makes them on a local one; deploy/README.md says how elsewhere.
# After a restore, `vigil audit verify` walks the audit chain and checks it against its anchors.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "backup.sh: $*" >&2; }
usage() { sed -n '2,13p' "$0" >&2; exit 2; }

[ $# -eq 2 ] || usage
action=$1 file=$2
url=${DATABASE_URL:-$("$root/deploy/postgres.sh" url)}
command -v pg_dump >/dev/null || { say "pg_dump is missing (Debian: apt-get install postgresql-client)"; exit 1; }

case "$action" in
  dump)
    pg_dump --format=custom --compress=6 --no-password --file="$file.partial" "$url"
    # Only a finished dump takes the name: a failed run never leaves a file that looks complete.
    mv "$file.partial" "$file"
    say "dumped to $file ($(du -h "$file" | cut -f1))"
    ;;
  restore)
    [ -f "$file" ] || { say "no such dump: $file"; exit 1; }
    tables=$(psql --no-password -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'" "$url")
    [ "$tables" = 0 ] || { say "the target database is not empty ($tables tables); restore into a new one"; exit 1; }
    pg_restore --exit-on-error --single-transaction --no-password --dbname="$url" "$file"
    say "restored $file; check it with: vigil audit verify"
    ;;
  *) usage ;;
esac
