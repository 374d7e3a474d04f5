#!/usr/bin/env bash
# Build the real-guest tests' images (the three nspawn suites, then the QEMU VM disk) ahead of `make guests`:
# `make test` starts this in the background at its beginning, so that on a fresh machine the builds (about
# 5 minutes on 2026-12-04: 44-56 s per suite, 164 s for the VM disk) overlap lint, sanity, units and
# integration instead of adding to them. Each image script takes its suite's lock, so a test that asks for an image while it builds waits for
# this build rather than starting another; a cached image costs nothing. Without root or the tools, it only
# says so: the guest tests then report why they cannot run. Exits non-zero when a build failed (the tests
# then build again and fail with that build's own error).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
  echo "guest-prebuild: skipped (needs root and mmdebstrap: make setup)"
  exit 0
fi
status=0
for suite in bookworm trixie sid; do
  start=$SECONDS
  bash hack/guest-image.sh "$suite" || status=1
  echo "guest-prebuild: nspawn $suite: $((SECONDS - start))s"
done
if command -v qemu-system-x86_64 >/dev/null; then
  start=$SECONDS
  bash hack/guest-vm-image.sh bookworm || status=1
  echo "guest-prebuild: vm bookworm: $((SECONDS - start))s"
fi
exit $status
