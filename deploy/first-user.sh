#!/usr/bin/env bash
# Creates a user with a random password saved (owner-readable only) in the given file, unless
# that file exists already. Usage: first-user.sh "VIGIL COMMAND" FILE USERNAME [vigil user add ARGS...]
# (make run: `admin`, the first administrator; `nurse`, a clinician of every ward who gets the
# alert emails; `analyst`, clinical informatics).
set -euo pipefail
vigil=$1
file=$2
username=$3
shift 3
[ -s "$file" ] && exit 0
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 24)
umask 077
if ! printf '%s\n' "$password" | $vigil user add "$username" "$@" --password-stdin >/dev/null 2>&1; then
  # The database kept the user whose password file was deleted: give it the new password.
  printf '%s\n' "$password" | $vigil user set-password "$username" --password-stdin >/dev/null
fi
printf '%s\n' "$password" > "$file"
