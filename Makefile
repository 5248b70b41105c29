# needledrop — the two commands that matter: `make demo` and `make test`.
# Everything else is a step of those. Run as root on Debian 12 (apt for podman & co).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(TOP)/.venv
PY := $(VENV)/bin/python
ARCH ?= amd64
# One scenario with S=name; every scenario otherwise.
S ?=
SCENARIOS := $(if $(S),$(S),$(sort $(filter-out shared,$(notdir $(wildcard molecule/*)))))

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(TOP)/containers.conf
export ANSIBLE_CONFIG := $(TOP)/ansible.cfg
export ARCH
export PIP_DISABLE_PIP_VERSION_CHECK := 1

APT_PACKAGES := podman runc debootstrap mtools dosfstools
ifeq ($(ARCH),arm64)
APT_PACKAGES += qemu-user-static binfmt-support
endif

.PHONY: help demo demo-down test lint pytest molecule deps venv image bench clean

help:
	@echo "make demo   - run site.yml against a virtual fleet of containers (inventory/demo)"
	@echo "make test   - lint + pytest + every molecule scenario (S=name for one)"
	@echo "make bench  - benchmarks; figures go to the README by hand"
	@echo "ARCH=arm64  - build and run the test image under qemu (slow; not in CI)"

## ---- the two commands --------------------------------------------------------------------

demo: deps venv image
	@start=$$(date +%s); \
	ansible-playbook inventory/demo/fleet.yml -e demo_fleet_state=started; \
	ansible-playbook -i inventory/demo/hosts.yml inventory/demo/credentials.yml; \
	ansible-playbook -i inventory/demo/hosts.yml site.yml; \
	ansible-playbook -i inventory/demo/hosts.yml playbooks/status.yml; \
	ansible-playbook -i inventory/demo/hosts.yml inventory/demo/contact-sheet.yml; \
	echo "make demo: done in $$(( $$(date +%s) - start )) s. Contact sheet: $(TOP)/.cache/demo/contact-sheet.png"; \
	echo "           Each display: podman exec demo-kitchen /opt/needledrop/current/bin/needledrop status --config /etc/needledrop/needledrop.toml"

demo-down: venv
	ansible-playbook inventory/demo/fleet.yml -e demo_fleet_state=absent

test: deps venv lint pytest molecule
	@echo "make test: lint, pytest and molecule ($(SCENARIOS)) passed"

## ---- steps -----------------------------------------------------------------------------

lint: venv
	yamllint --strict .
	ANSIBLE_VAULT_IDENTITY_LIST=fleet@inventory/example/vault-password.example ansible-lint --profile production
	ruff check .
	ruff format --check .

pytest: venv
	pytest -q

molecule: deps venv image
	@for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; \
	  start=$$(date +%s); \
	  molecule test -s $$s || exit 1; \
	  echo "=== molecule $$s passed in $$(( $$(date +%s) - start )) s"; \
	done

image: deps
	scripts/build-test-image.sh $(ARCH)

bench: venv image
	python benchmarks/polling.py
	python benchmarks/render.py
	python benchmarks/fleet_build.py

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

clean: demo-down
	rm -rf .cache
