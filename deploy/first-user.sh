#!/usr/bin/env bash
# Creates the first administrator, `admin`, with a random password saved (owner-readable only)
# in the given file, unless that file exists already. Usage: first-user.sh "VIGIL COMMAND" FILE
set -euo pipefail
vigil=$1
file=$2
[ -s "$file" ] && exit 0
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 24)
umask 077
if ! printf '%s\n' "$password" | $vigil user add admin --name Administrator --role admin --password-stdin >/dev/null 2>&1; then
  # The database kept an admin whose password file was deleted: give it the new password.
  printf '%s\n' "$password" | $vigil user set-password admin --password-stdin >/dev/null
fi
printf '%s\n' "$password" > "$file"
