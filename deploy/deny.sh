#!/usr/bin/env bash
# Checks the dependency graph with cargo deny (deny.toml: advisories, licenses, duplicate versions,
# sources), installing the pinned cargo-deny when it is missing.
#
# Advisories come from the RustSec database. cargo deny keeps it in .vigil/advisory-dbs; this script
# puts it there: fetched from GitHub when this machine reaches it, else unpacked from the snapshot
# kept in the repository (deploy/advisory-db.tar.gz, CC0, commit named in ADVISORY_DB_COMMIT), and
# checked with --frozen (no fetch, Cargo.lock as it is), so
# that a machine without GitHub still checks against a known database rather than none.
#
#   deploy/deny.sh            check
#   deploy/deny.sh --refresh  rewrite the snapshot from GitHub's current database, then check
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_DENY_VERSION=0.20.2
ADVISORY_DB_URL=https://github.com/rustsec/advisory-db
ADVISORY_DB_COMMIT=bf5c0d245a92671908518d7e765914d437954ed6
ADVISORY_DB_DATE=2026-08-21T08:28:40+02:00
# The folder cargo deny keeps ADVISORY_DB_URL's database in (named from the URL).
ADVISORY_DB_FOLDER=advisory-db-3157b0e258782691
snapshot="$root/deploy/advisory-db.tar.gz"
dbs="$root/.vigil/advisory-dbs"

say() { echo "deny.sh: $*" >&2; }

if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
  say "installing cargo-deny $CARGO_DENY_VERSION"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked
fi

# The database's folder, if a database is there.
db_dir() {
  if [ -d "$dbs/$ADVISORY_DB_FOLDER/crates" ]; then echo "$dbs/$ADVISORY_DB_FOLDER"; fi
}

if [ "${1:-}" = --refresh ]; then
  rm -rf "$dbs"
  cargo deny --manifest-path "$root/Cargo.toml" fetch db
  dir=$(db_dir)
  git -C "$dir" archive --format=tar --prefix=advisory-db/ HEAD crates rust support.toml LICENSE.txt README.md |
    gzip -9n >"$snapshot"
  say "snapshot rewritten at $(git -C "$dir" rev-parse HEAD); update ADVISORY_DB_COMMIT and ADVISORY_DB_DATE here"
fi

if [ -z "$(db_dir)" ]; then
  mkdir -p "$dbs"
  if cargo deny --manifest-path "$root/Cargo.toml" fetch db >/dev/null 2>&1 && [ -n "$(db_dir)" ]; then
    say "fetched the advisory database from $ADVISORY_DB_URL"
  else
    dir="$dbs/$ADVISORY_DB_FOLDER"
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xzf "$snapshot" -C "$dir" --strip-components=1
    # cargo deny reads the database as a git repository: one commit of the snapshot, dated as it was.
    git -C "$dir" init -q
    git -C "$dir" add -A
    GIT_AUTHOR_DATE=$ADVISORY_DB_DATE GIT_COMMITTER_DATE=$ADVISORY_DB_DATE \
      git -C "$dir" -c user.name=vigil -c user.email=vigil@localhost commit -qm "RustSec advisory-db $ADVISORY_DB_COMMIT"
    say "GitHub not reachable: using the advisory database snapshot of $ADVISORY_DB_DATE"
  fi
fi

cd "$root"
# cargo deny reads the manifests of every platform's dependencies, which a build for this one never
# downloads; fetching them first lets the check itself stay offline.
cargo fetch --locked --quiet
cargo deny --frozen check
