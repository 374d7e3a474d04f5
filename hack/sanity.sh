#!/usr/bin/env bash
# ansible-test sanity wants the collection at a real .../ansible_collections/dockerhost/azure path
# (it refuses symlinks), so copy the files git would submit (tracked + untracked, not ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/dockerhost-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/dockerhost/azure
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | (cd "$root" && xargs -0 cp --parents -t "$dest")
cd "$dest"
# A throwaway git repo so ansible-test lists exactly these files.
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@invalid commit -qm sanity
export PATH=$root/.venv/bin:$PATH
ansible-test sanity --python "$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no "$@"
