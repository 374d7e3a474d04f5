#!/usr/bin/env bash
# make demo: the 2014 `azure vm docker create` flow end to end, on the local Azure emulator (no Azure
# account): certificates, VM, Docker extension, mutual-TLS check, `docker --tlsverify ... info`, teardown.
# Everything it makes lives in one temp directory, removed on exit, also after a failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH
export PYTHONPATH=$root/.venv ANSIBLE_COLLECTIONS_PATH=$root/.venv ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false

work=$(mktemp -d "${TMPDIR:-/tmp}/dockerhost-demo.XXXXXX")
cleanup() {
  # The playbook tears down itself; this is for interruptions: stop the emulator and its daemons.
  python -m ansible_collections.dockerhost.azure.azure_emulator stop --state-dir "$work/demo/emulator" \
    >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ansible's own files (temp dirs, async job results) stay in the work dir too.
export ANSIBLE_HOME=$work/ansible ANSIBLE_REMOTE_TEMP=$work/ansible/tmp ANSIBLE_LOCAL_TEMP=$work/ansible/local
export ANSIBLE_ASYNC_DIR=$work/ansible/async
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
# The demo builds its inventory itself (the emulated VM is added once the emulator runs).
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false

ansible-playbook dockerhost.azure.demo -e "demo_dir=$work/demo" "$@"
