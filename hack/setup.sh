#!/usr/bin/env bash
# make setup: Debian packages from bindep.txt, .venv with requirements-dev.txt, the collection
# import path, and ansible-test's pip bootstrap. Idempotent; a second run only checks stamps.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
python=${PYTHON:-python3}

log() { printf 'setup: %s\n' "$*"; }

# 1. System packages: install only the ones whose dpkg status is not "installed".
mapfile -t wanted < <(awk '!/^#/ && /platform:dpkg/ {print $1}' bindep.txt)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The virtualenv, rebuilt only when the requirement files change.
stamp=$venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "building $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip 2> >(grep -v "^WARNING: Location" >&2)
  "$venv/bin/python" -m pip install -q -r requirements-dev.txt 2> >(grep -v "^WARNING: Location" >&2)
  echo "$want" >"$stamp"
fi

# 3. Import path: ansible_collections/dockerhost/azure -> this checkout, for pytest and ansible.
# (ansible-test refuses symlinks; hack/sanity.sh copies the tree instead.)
mkdir -p "$venv/ansible_collections/dockerhost"
ln -sfn "$root" "$venv/ansible_collections/dockerhost/azure"

# 4. ansible-test bootstraps pip in its sanity venvs with a script it downloads from a host we
# cannot reach. Give it a stand-in that installs the same pip release from a wheel off the index.
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
src = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
cache=$HOME/.ansible/test/cache
getpip=$cache/get_pip_${pip_version//./_}.py
wheel=$(ls "$cache"/pip-"$pip_version"-py3-none-any.whl 2>/dev/null || true)
if [ -z "$wheel" ]; then
  mkdir -p "$cache"
  "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$cache" "pip==$pip_version"
  wheel=$cache/pip-$pip_version-py3-none-any.whl
fi
# get-pip.py's own options (--no-setuptools, --no-wheel) mean "install nothing else": drop them.
bootstrap=$(cat <<PY
# Stand-in for get-pip.py written by dockerhost.azure's hack/setup.sh: installs pip from a local wheel.
import sys
sys.path.insert(0, "$wheel")
from pip._internal.cli.main import main  # noqa: E402
skip = ("--no-setuptools", "--no-wheel", "pip==")
sys.exit(main(["install", "$wheel"] + [a for a in sys.argv[1:] if not a.startswith(skip)]))
PY
)
if [ "$(cat "$getpip" 2>/dev/null)" != "$bootstrap" ]; then
  log "writing ansible-test pip bootstrap $getpip"
  printf '%s\n' "$bootstrap" >"$getpip"
fi
log "ready: $venv"
