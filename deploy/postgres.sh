#!/usr/bin/env bash
# Finds or starts the Postgres that Vigil uses on this machine.
#
#   deploy/postgres.sh url        ensure a server and the database exist; print an administrator's URL
#   deploy/postgres.sh roles      also ensure Vigil's two roles; print two lines: the owner's URL
#                                 (migrations) and the runtime role's URL (everything else)
#   deploy/postgres.sh stop       stop the private cluster, if one runs
#
# The roles: vigil_owner owns the database and its tables and applies migrations; vigil_app logs in
# as a member of vigil_runtime, which the migrations grant rows to read and write and, on the audit
# log, only INSERT and SELECT. With DATABASE_URL set, both lines are DATABASE_URL (one role: give
# Vigil two yourself, as deploy/README describes, to keep the audit log out of the application's reach).
#
# Where the server comes from, first match wins:
#   1. DATABASE_URL, when set: used as it is.
#   2. A server on 127.0.0.1:5432 that lets role postgres in (trust auth, as on Debian's
#      default cluster for local TCP connections when configured so).
#   3. A private cluster under .vigil/postgres on port 54329, created with initdb on first use.
#      Debian's postgresql package is installed when the binaries are missing and we are root.
# VIGIL_PG=private skips 1 and 2 (it is how the private path is tested on a machine that runs a
# server already); VIGIL_PG_DIR and VIGIL_PG_PORT move the private cluster; VIGIL_DB_NAME names
# the database (default vigil).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${VIGIL_PG:-auto}
pg_dir=${VIGIL_PG_DIR:-$root/.vigil/postgres}
pg_port=${VIGIL_PG_PORT:-54329}
db=${VIGIL_DB_NAME:-vigil}

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install_postgres() {
  if [ "$(id -u)" != 0 ]; then
    die "PostgreSQL is not installed. Install it (Debian: sudo apt-get install postgresql), or set DATABASE_URL to a server you have."
  fi
  say "installing Debian's postgresql package"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >&2
  # The package starts a cluster of its own; Vigil's is the private one, so leave that alone.
}

# Runs a command as the cluster's owner: root may not run a Postgres server.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_database() { # $1: server URL without database
  local psql=psql
  command -v psql >/dev/null 2>&1 || psql="$(pg_bin)/psql"
  if ! "$psql" "$1/postgres" -tAc "SELECT 1" >/dev/null 2>&1; then
    return 1
  fi
  if [ -z "$("$psql" "$1/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    "$psql" "$1/postgres" -qc "CREATE DATABASE \"$db\"" >&2
    say "created database $db"
  fi
}

start_private() {
  local bin
  bin=$(pg_bin) || { install_postgres; bin=$(pg_bin) || die "initdb not found after installing postgresql"; }
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$pg_dir"
  [ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
  chmod 700 "$pg_dir"
  as_owner test -w "$pg_dir" ||
    die "the postgres user cannot reach $pg_dir (a parent folder is closed to it); set VIGIL_PG_DIR to a folder it can reach"
  if [ ! -f "$pg_dir/PG_VERSION" ]; then
    say "creating a private cluster in $pg_dir"
    as_owner "$bin/initdb" -D "$pg_dir" -U postgres --auth=trust -E UTF8 --locale=C >"$pg_dir/../initdb.log" 2>&1 ||
      die "initdb failed: see $(dirname "$pg_dir")/initdb.log"
  fi
  if ! as_owner "$bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1; then
    port_open "$pg_port" && die "port $pg_port is taken by another program; set VIGIL_PG_PORT"
    say "starting the private cluster on 127.0.0.1:$pg_port"
    as_owner "$bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 60 \
      -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null ||
      die "the private cluster did not start: see $pg_dir/server.log"
  fi
  ensure_database "postgres://postgres@127.0.0.1:$pg_port" || die "the private cluster on port $pg_port does not answer"
  echo "postgres://postgres@127.0.0.1:$pg_port/$db"
}

stop_private() {
  local bin
  bin=$(pg_bin) || exit 0
  [ -f "$pg_dir/PG_VERSION" ] || exit 0
  if as_owner "$bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$pg_dir" -m fast -w stop >/dev/null
    say "stopped the private cluster in $pg_dir"
  fi
}

# Creates the roles (once) and gives the owner role the database and whatever is in its schema.
ensure_roles() { # $1: an administrator's URL to the database
  local psql=psql
  command -v psql >/dev/null 2>&1 || psql="$(pg_bin)/psql"
  "$psql" "$1" -qX -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_runtime') THEN CREATE ROLE vigil_runtime NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_owner') THEN CREATE ROLE vigil_owner LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_app') THEN CREATE ROLE vigil_app LOGIN IN ROLE vigil_runtime; END IF;
END \$\$;
ALTER DATABASE "$db" OWNER TO vigil_owner;
ALTER SCHEMA public OWNER TO vigil_owner;
-- A database made before the roles existed: its tables pass to the owner role.
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT format('ALTER TABLE public.%I OWNER TO vigil_owner', tablename) AS sql
             FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'vigil_owner' LOOP
    EXECUTE r.sql;
  END LOOP;
  FOR r IN SELECT format('ALTER FUNCTION public.%I(%s) OWNER TO vigil_owner', p.proname, pg_get_function_identity_arguments(p.oid)) AS sql
             FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
            WHERE p.pronamespace = 'public'::regnamespace AND o.rolname <> 'vigil_owner' LOOP
    EXECUTE r.sql;
  END LOOP;
END \$\$;
SQL
}

# "user@host" URL of the same server and database as the administrator's $1, for role $2.
as_role() { echo "$1" | sed -E "s#^(postgres(ql)?://)([^@/]*@)?#\1$2@#"; }

case "${1:-url}" in
  roles)
    if [ "$mode" != private ] && [ -n "${DATABASE_URL:-}" ]; then
      echo "$DATABASE_URL"; echo "$DATABASE_URL"; exit 0
    fi
    admin=$("$0" url)
    ensure_roles "$admin"
    as_role "$admin" vigil_owner
    as_role "$admin" vigil_app
    ;;
  url)
    if [ "$mode" != private ]; then
      if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; exit 0; fi
      if port_open 5432; then
        if ensure_database "postgres://postgres@127.0.0.1:5432"; then
          echo "postgres://postgres@127.0.0.1:5432/$db"
          exit 0
        fi
        say "a server on 127.0.0.1:5432 does not let role postgres in without a password; using a private cluster (or set DATABASE_URL)"
      fi
    fi
    start_private
    ;;
  stop) stop_private ;;
  *) die "usage: deploy/postgres.sh [url|stop]" ;;
esac
