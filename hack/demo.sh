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

# make demo-vm (DEMO_BACKEND=guest): the emulator's VMs are booted Linux guests that run the install script as
# root (azure_emulator/README.md, Backends). DEMO_GUEST_KIND: vm (default: QEMU, its own kernel and cloud-init,
# and the script installs Docker with apt for real; bookworm only) or nspawn (systemd-nspawn, Docker
# preinstalled in the image, no uplink: minutes faster). DEMO_GUEST_SUITE: bookworm (default), trixie or sid.
extra=()
if [ "${DEMO_BACKEND:-fast}" = guest ]; then
  kind=${DEMO_GUEST_KIND:-vm} suite=${DEMO_GUEST_SUITE:-bookworm}
  if [ "$(id -u)" -ne 0 ]; then
    echo "demo-vm: real guests need root (systemd-nspawn, QEMU images built with mmdebstrap)" >&2
    exit 1
  fi
  case $kind in
    nspawn)
      echo "demo-vm: the VM is a $suite guest booted with systemd-nspawn (systemd as PID 1, its own network)."
      echo "demo-vm: Docker came PREINSTALLED in this image (docker.io from Debian's archive; the guest has no"
      echo "demo-vm: uplink), so the install script finds it and skips apt. DEMO_GUEST_KIND=vm (the default) runs"
      echo "demo-vm: apt for real."
      echo "demo-vm: the guest image ($suite) is built on first use (1-3 min) and cached:"
      bash hack/guest-image.sh "$suite"
      ;;
    vm)
      echo "demo-vm: the VM is a QEMU $suite VM (software emulation, its own kernel, cloud-init): booting it and"
      echo "demo-vm: the install script's apt-get install docker.io take minutes (DEMO_GUEST_KIND=nspawn is quicker)."
      echo "demo-vm: the VM image is built on first use (~7-10 min) and cached:"
      bash hack/guest-vm-image.sh "$suite"
      ;;
    *)
      echo "demo-vm: DEMO_GUEST_KIND is nspawn or vm, not '$kind'" >&2
      exit 2
      ;;
  esac
  extra=(-e "{\"demo_emulator_args\": [\"--vm-backend\", \"guest\", \"--guest-kind\", \"$kind\", \"--guest-suite\", \"$suite\"]}")
fi

ansible-playbook dockerhost.azure.demo -e "demo_dir=$work/demo" "${extra[@]}" "$@"
