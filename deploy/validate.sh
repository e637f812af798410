#!/usr/bin/env bash
# Validates deploy/compose.yaml and the manifests in deploy/k8s/ (deploy/validate.py), with the
# packages pinned in deploy/validate-requirements.txt, installed from PyPI into a virtual
# environment under .vigil/ on first use (and again when the pins change).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/deploy/lib/apt.sh"
venv=$root/.vigil/deploy-venv
pins=$root/deploy/validate-requirements.txt

missing=()
/usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
apt_install_missing validate.sh "${missing[@]}"
if ! cmp -s "$pins" "$venv/pins.txt" 2>/dev/null; then
  echo "validate.sh: installing the validators into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv -r "$pins" >&2
  cp "$pins" "$venv/pins.txt"
fi
exec "$venv/bin/python" "$root/deploy/validate.py"
