#!/usr/bin/env bash
# Galaxy's own validator (galaxy-importer, what Galaxy and Automation Hub run on upload) on the tarball that
# `ansible-galaxy collection build` makes from this checkout. Settings: hack/galaxy-importer.cfg.
# The importer logs problems as WARNING/ERROR lines and still exits 0 for most of them: any such line fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/dockerhost-importer.XXXXXX")
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build --output-path "$work" "$root" >/dev/null
tarball=$(echo "$work"/dockerhost-azure-*.tar.gz)

# The importer sees the tarball only: no checkout on the import or collections path, its temp files here.
export GALAXY_IMPORTER_CONFIG=$root/hack/galaxy-importer.cfg
export GALAXY_IMPORTER_TMP_ROOT_DIR=$work GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=$work/ansible-tmp
export ANSIBLE_HOME=$work/ansible
unset PYTHONPATH ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_SCAN_SYS_PATH
status=0
(cd "$work" && python -m galaxy_importer.main "$tarball") >"$work/log" 2>&1 || status=$?
grep -v '^Loading ' "$work/log"
if [ "$status" -ne 0 ] || grep -qE '^(WARNING|ERROR|CRITICAL)' "$work/log"; then
  echo "galaxy-importer: $(basename "$tarball") has errors or warnings (above)" >&2
  exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports without errors or warnings"
