# dockerhost.azure: the two commands are `make demo` and `make test`; the rest are their parts.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.requirements.sha256
export PATH := $(VENV)/bin:$(PATH)
# The collection is importable as ansible_collections.dockerhost.azure through .venv (see hack/setup.sh).
export PYTHONPATH := $(VENV)
export ANSIBLE_COLLECTIONS_PATH := $(VENV)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
PYTEST := $(VENV)/bin/python -m pytest
# The slow suites run their files side by side (pytest-xdist, one file per worker at a time): most of their
# time is spent waiting on ansible-playbook, dockerd, Azure's emulated operations and booting guests, not
# computing. TEST_JOBS=1 runs them one after the other.
TEST_JOBS ?= 2
XDIST := $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

SHELL_SCRIPTS := $(shell git ls-files -co --exclude-standard '*.sh' .ci/run 2>/dev/null)

.PHONY: help setup lint galaxy tarball sanity units integration min-deps molecule guests test demo demo-vm bench changelog clean

help:
	@echo "make demo   - start the local Azure emulator and create, check and destroy a Docker host"
	@echo "make demo-vm - the same against a booted Debian VM where apt installs Docker (root; DEMO_GUEST_KIND=nspawn)"
	@echo "make test   - everything CI runs: lint, ansible-test sanity, unit and integration tests"
	@echo "make setup  - build .venv and install missing Debian packages (run by the targets above)"
	@echo "make lint | galaxy | tarball | sanity | units | integration | min-deps | guests | bench | changelog | clean"

# Re-run setup when the requirement files change or the venv is missing.
$(STAMP): requirements.txt requirements-dev.txt bindep.txt hack/setup.sh
	bash hack/setup.sh

setup:
	bash hack/setup.sh

# ansible-lint: the whole collection, production profile, offline (.ansible-lint); the exported
# ANSIBLE_COLLECTIONS_PATH keeps its cache out of the checkout. Then the docsite's linter and Galaxy's.
lint: $(STAMP)
	ruff check .
	ruff format --check .
	shellcheck $(SHELL_SCRIPTS)
	antsibull-changelog lint
	ansible-lint
	antsibull-docs lint-collection-docs --plugin-docs .
	$(MAKE) galaxy

# Galaxy's upload validator (galaxy-importer) on the built tarball: no error, no warning.
galaxy: $(STAMP)
	bash hack/galaxy-importer.sh

# The built tarball: its member list, then the demo from the copy installed in a clean venv (also part of
# `integration`).
tarball: $(STAMP)
	$(PYTEST) tests/integration/packaging

sanity: $(STAMP)
	bash hack/sanity.sh

units: $(STAMP)
	$(PYTEST) tests/unit

# --durations: where a slow run's time went, in CI's log (no test asserts on time).
integration: $(STAMP)
	$(PYTEST) $(XDIST) --durations=15 tests/integration

# The modules' tests again on the oldest versions requirements.txt allows (.venv-min, see the script).
min-deps: $(STAMP)
	PYTEST_ARGS="$(XDIST)" bash hack/min-deps.sh

# The docker_host role's scenarios (extensions/molecule/), also run by `integration` through
# tests/integration/role/test_molecule.py; each starts its own Azure emulator.
molecule: $(STAMP)
	molecule test --all

# The install script on booted Debian guests (systemd-nspawn, root; tests/guests/README.md), and in one
# full QEMU VM (test_vm.py: its own apt path, cloud-init, AppArmor, a reboot; ~6-8 min). The first run
# builds one image per suite and the VM's disk into ~/.cache/dockerhost-azure/guests (1-5 min each).
guests: $(STAMP)
	$(PYTEST) $(XDIST) --durations=15 tests/guests

# On a fresh machine (measured 2026-12-04: 56 min when every step ran in turn, 55 min with this) two things
# overlap:
# - the guests' images build in the background from the start (hack/guest-prebuild.sh: ~5 min, nothing once
#   cached; it slowed integration by about as much, 21 -> 26 min, on 2 busy cores); `guests` then finds
#   them, or waits on their locks;
# - min-deps runs beside guests, whose time is mostly the one QEMU VM (one xdist worker) once the nspawn
#   tests are done; --output-sync prints each one's output whole when it ends.
# The first failing step stops the rest, as one recipe line per step would.
PREBUILD_LOG := tests/output/guest-prebuild.log

test: $(STAMP)
	mkdir -p tests/output
	bash hack/guest-prebuild.sh >$(PREBUILD_LOG) 2>&1 & prebuild=$$!; \
	$(MAKE) lint && $(MAKE) sanity && $(MAKE) units && $(MAKE) integration; status=$$?; \
	wait $$prebuild || echo "make test: hack/guest-prebuild.sh failed (the guest tests build again):"; \
	cat $(PREBUILD_LOG); \
	[ $$status -eq 0 ] && $(MAKE) -j2 --output-sync=target min-deps guests

# Benchmarks, not part of `make test` (see benchmarks/README.md); e.g. BENCH_ARGS="--reps 3 --only certs".
bench: $(STAMP)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt \
		2> >(grep -v "^WARNING: Location" >&2)
	$(VENV)/bin/python -m ansible_collections.dockerhost.azure.benchmarks $(BENCH_ARGS)

demo: $(STAMP)
	bash hack/demo.sh

# The demo against the emulator's guest backend: the VM is a booted Debian guest (hack/demo.sh says which).
demo-vm: $(STAMP)
	DEMO_BACKEND=guest bash hack/demo.sh

changelog: $(STAMP)
	antsibull-changelog release

clean:
	rm -rf tests/output .pytest_cache .ruff_cache
