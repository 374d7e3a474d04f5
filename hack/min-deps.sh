#!/usr/bin/env bash
# make min-deps: the collection's own tests on the OLDEST versions requirements.txt allows.
#
# requirements.txt states minimums ("the oldest release each feature we use is known to work on"); this
# keeps that true. It builds .venv-min with every `name>=X` of requirements.txt installed as exactly X, and
# runs the unit tests and the integration tests of the modules and the emulator with it (the role's tests
# need molecule, ansible-runner and ansible-builder, whose own minimums are newer: they stay on .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv-min
python=${PYTHON:-python3}

pins=$(sed -n -E 's/^([A-Za-z0-9_.-]+)>=([0-9][0-9A-Za-z.]*)\s*$/\1==\2/p' requirements.txt)
if [ -z "$pins" ]; then
  echo "min-deps: no 'name>=version' lines in requirements.txt" >&2
  exit 1
fi
tools=("pytest>=8.0" "pytest-xdist>=3.5") # the test runner, not under test: newest allowed
want=$(printf '%s\n' "$pins" "${tools[@]}" | sha256sum | cut -d' ' -f1)
stamp=$venv/.pins.sha256
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # shellcheck disable=SC2086 # one argument per pin
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $pins "${tools[@]}" \
    2> >(grep -v "^WARNING: Location" >&2)
  mkdir -p "$venv/ansible_collections/dockerhost"
  ln -sfn "$root" "$venv/ansible_collections/dockerhost/azure"
  echo "$want" > "$stamp"
fi
echo "min-deps: ${pins//$'\n'/ }"

export DOCKERHOST_TEST_VENV=$venv PYTHONPATH=$venv ANSIBLE_COLLECTIONS_PATH=$venv ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
# PYTEST_ARGS: e.g. "-n 2 --dist loadfile" from the Makefile (the files side by side).
# shellcheck disable=SC2086 # several arguments
exec "$venv/bin/python" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-} \
  tests/unit \
  tests/integration/docker_tls_certs \
  tests/integration/docker_host_probe \
  tests/integration/azure_docker_vm \
  tests/integration/azure_emulator
