# needledrop — the two commands that matter: `make demo` and `make test`.
# Everything else is a step of those. Run as root on Debian 12 (apt for podman & co).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(TOP)/.venv
PY := $(VENV)/bin/python
ARCH ?= amd64
# Raspberry Pi OS release of the look-alike Pis: trixie or bookworm. Unset, `make demo` uses
# trixie and `make molecule` lets each scenario's platforms name their own (both releases).
SUITE ?=
DEMO_SUITE := $(or $(SUITE),trixie)
# The demo displays' backend: png (frames as files and a contact sheet) or emulator (a browser
# view per display on 127.0.0.1; docs/getting-started.md).
BACKEND ?= png
IMAGE_SUITES := $(or $(SUITE),trixie bookworm)
# One scenario with S=name; every scenario otherwise.
S ?=
SCENARIOS := $(if $(S),$(S),$(sort $(filter-out shared,$(notdir $(wildcard molecule/*)))))

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(TOP)/containers.conf
export ANSIBLE_CONFIG := $(TOP)/ansible.cfg
export ARCH
export SUITE
export PIP_DISABLE_PIP_VERSION_CHECK := 1

APT_PACKAGES := podman runc debootstrap mtools dosfstools fdisk xz-utils
ifeq ($(ARCH),arm64)
APT_PACKAGES += qemu-user-static binfmt-support
endif

# `make controllers`: the newest ansible-core the project supports, in a second venv on a
# Python >= 3.12 (ansible-core 2.21 needs it): pyenv's 3.13, else python3.13/python3.12 on PATH.
CONTROLLERS_PYTHON ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3) \
  $(shell command -v python3.13 python3.12 2>/dev/null))
VENV_NEWEST := $(TOP)/.venv-newest
# The demo's vault (vault id demo): fake values for the stand-in Spotify; its password is in the
# repository on purpose (inventory/demo/vault-password). A real fleet's vault id asks instead.
DEMO_VAULT := --vault-id demo@$(TOP)/inventory/demo/vault-password
# Every vault in the tree, for ansible-lint (it decrypts what it reads): the example fleet's,
# the demo's and the site scenario's canaries (all test or demo values).
LINT_VAULTS := fleet@inventory/example/vault-password.example,demo@inventory/demo/vault-password,site@molecule/site/vault-password
PLAYBOOKS := site.yml $(wildcard playbooks/*.yml) inventory/demo/fleet.yml benchmarks/naive_per_host.yml

.PHONY: help demo demo-down test lint pytest molecule controllers deps venv test-images image image-ci image-deps image-boot-test bench mutation clean panel-contract

help:
	@echo "make demo   - run site.yml against a virtual fleet of containers (inventory/demo)"
	@echo "make demo BACKEND=emulator - the same, each display a browser view on 127.0.0.1"
	@echo "make test   - lint + pytest + every molecule scenario (S=name for one)"
	@echo "make image  - bake the ready-to-flash display image (inventory/image; docs/image.md)"
	@echo "make image-ci - the same build on a native amd64 root, checked without booting (in make test)"
	@echo "make image-boot-test - boot that image in qemu and wait for its first frames (slow; not in CI)"
	@echo "make bench  - benchmarks; figures go to docs/benchmarks.md by hand"
	@echo "make mutation [M=schedule] - mutation score per module (slow; not in CI; docs/testing.md)"
	@echo "make controllers - lint, syntax checks and pi_base's scenario under the newest ansible-core"
	@echo "SUITE=trixie|bookworm - the Raspberry Pi OS release of the test containers (docs/platforms.md)"
	@echo "ARCH=arm64  - build and run the test image under qemu (slow; not in CI)"

## ---- the two commands --------------------------------------------------------------------

demo: deps venv
	scripts/build-test-image.sh $(ARCH) $(DEMO_SUITE)
	@export DEMO_BACKEND=$(BACKEND); \
	start=$$(date +%s); \
	ansible-playbook inventory/demo/fleet.yml -e demo_fleet_state=started; \
	ansible-playbook -i inventory/demo/hosts.yml $(DEMO_VAULT) site.yml; \
	ansible-playbook -i inventory/demo/hosts.yml $(DEMO_VAULT) playbooks/status.yml; \
	if [ "$(BACKEND)" = emulator ]; then \
	  ansible-playbook -i inventory/demo/hosts.yml $(DEMO_VAULT) inventory/demo/emulator-view.yml; \
	  echo "make demo: done in $$(( $$(date +%s) - start )) s. Open in a browser (this machine only):"; \
	  sed 's/^/           /' $(TOP)/.cache/demo/emulator-urls.txt; \
	else \
	  ansible-playbook -i inventory/demo/hosts.yml $(DEMO_VAULT) inventory/demo/contact-sheet.yml; \
	  echo "make demo: done in $$(( $$(date +%s) - start )) s. Contact sheet: $(TOP)/.cache/demo/contact-sheet.png"; \
	fi; \
	echo "           Each display: podman exec demo-kitchen /opt/needledrop/current/bin/needledrop status --config /etc/needledrop/needledrop.toml"

demo-down: venv
	ansible-playbook inventory/demo/fleet.yml -e demo_fleet_state=absent

# The newest controller's checks and the image build share no cache and each leaves a core
# idle: they run side by side (each one's output comes whole when it ends).
test: deps venv lint pytest molecule
	$(MAKE) --no-print-directory -j2 --output-sync=target controllers image-ci
	@echo "make test: lint, pytest, molecule ($(SCENARIOS)), the newest controller and the image build passed"

## ---- steps -----------------------------------------------------------------------------

lint: venv
	yamllint --strict .
	ANSIBLE_VAULT_IDENTITY_LIST=$(LINT_VAULTS) ansible-lint --profile production
	ruff check .
	ruff format --check .
	mypy
	python scripts/panel-contract.py --check

# The rgb_matrix role's panel variables, rewritten from the app's definitions (docs/panel.md).
panel-contract: venv
	python scripts/panel-contract.py

pytest: venv
	pytest -q

molecule: deps venv test-images
	@for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; \
	  start=$$(date +%s); \
	  molecule test -s $$s || exit 1; \
	  echo "=== molecule $$s passed in $$(( $$(date +%s) - start )) s"; \
	done

# The podman images of the test containers (molecule, demo, controllers, bench).
test-images: deps
	@for s in $(IMAGE_SUITES); do scripts/build-test-image.sh $(ARCH) $$s; done

# The appliance image (docs/image.md): the display roles applied to an arm64 root without
# booting it, packed as .img.xz with its sha256 and bmap. IMAGE_INVENTORY names your own
# inventory with an `images` group (image_source: pios and your Raspberry Pi OS Lite download).
IMAGE_INVENTORY ?= inventory/image
IMAGE_APT_PACKAGES := debootstrap mtools dosfstools e2fsprogs fdisk xz-utils zstd bmap-tools \
  qemu-user-static binfmt-support
image-deps:
	@missing=""; for p in $(IMAGE_APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# A build that stops half-way leaves /proc, /sys and /dev bound into its root: close every root
# whatever happened (an `rm -rf .cache` must never reach this machine's /dev).
image: image-deps venv
	@start=$$(date +%s); rc=0; \
	ansible-playbook -i $(IMAGE_INVENTORY) playbooks/image.yml $(IMAGE_ARGS) || rc=$$?; \
	for r in .cache/image/*/root; do [ -d "$$r/etc" ] && scripts/image-chroot.sh close "$$r"; done; \
	[ $$rc -eq 0 ] || exit $$rc; \
	echo "make image: done in $$(( $$(date +%s) - start )) s"

# CI's image: the same playbook, roles and checks on a native amd64 Debian root (no kernel, no
# Pi firmware, no qemu), compressed with zstd: minutes instead of make image's hour.
image-ci:
	$(MAKE) --no-print-directory image IMAGE_ARGS="-e image_arch=amd64 -e image_compress=zstd"

# Boots the image in qemu-system-aarch64 with a test needledrop.toml and the fake Spotify on
# this machine's loopback; passes when the display personalised itself and drew its frames.
image-boot-test: image-deps venv
	@dpkg -s qemu-system-arm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null; }
	python scripts/image-boot-test.py

# The newest supported controller (requirements-newest.txt): ansible-lint, a syntax check of
# every playbook and pi_base's whole scenario (converge, idempotence, verify) under it.
controllers: deps test-images $(VENV_NEWEST)/.installed
	@start=$$(date +%s); \
	export PATH=$(VENV_NEWEST)/bin:$$PATH; \
	ansible --version | sed -n 1p; \
	ANSIBLE_VAULT_IDENTITY_LIST=$(LINT_VAULTS) ansible-lint --profile production; \
	for p in $(PLAYBOOKS); do ansible-playbook --syntax-check $$p >/dev/null || { echo "syntax check failed: $$p"; exit 1; }; done; \
	echo "=== syntax check passed: $(PLAYBOOKS)"; \
	molecule test -s pi_base; \
	echo "=== make controllers passed in $$(( $$(date +%s) - start )) s"

bench: venv test-images
	python benchmarks/polling.py
	python benchmarks/sharing.py
	python benchmarks/render.py
	python benchmarks/fleet_build.py

# Mutation testing (docs/testing.md): cosmic-ray in its own venv, each module mutated in a scratch
# copy of the tree with only the tests that cover it. M="schedule status" for some modules;
# MUTATION_ARGS=--survivors re-runs only the last run's survivors (scripts/mutation.py --help).
M ?=
MUTATION_ARGS ?=
MUTATION_VENV := $(TOP)/.cache/mutation/venv

mutation: venv $(MUTATION_VENV)/.installed
	$(PY) scripts/mutation.py $(MUTATION_ARGS) $(M)

$(MUTATION_VENV)/.installed: requirements-mutation.txt
	test -x $(MUTATION_VENV)/bin/python || python3 -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python -m pip install -q -r requirements-mutation.txt
	touch $@

# apt packages only when one is missing (a fresh Debian 12 machine as root).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt app/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -e app
	touch $@

$(VENV_NEWEST)/.installed: requirements-newest.txt
	@test -n "$(CONTROLLERS_PYTHON)" || { echo "make controllers: no Python >= 3.12 found (pyenv's 3.13, python3.13 or python3.12); set CONTROLLERS_PYTHON=/path/to/python3.13" >&2; exit 2; }
	test -x $(VENV_NEWEST)/bin/python || $(CONTROLLERS_PYTHON) -m venv $(VENV_NEWEST)
	$(VENV_NEWEST)/bin/python -m pip install -q --upgrade pip
	$(VENV_NEWEST)/bin/python -m pip install -q -r requirements-newest.txt
	touch $@

clean: demo-down
	rm -rf .cache
