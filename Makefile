# kmetal.platform — the two commands a newcomer needs:
#   make demo   bring the lab up (API + hosts) and run site.yml against inventories/lab
#   make test   every test: unit, lint, sanity, integration against the lab API, molecule on the lab hosts
# Both bootstrap what they need (apt packages, the venv, the Go-built binaries) and are quick the second time.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export KMETAL_CACHE ?= $(HOME)/.cache/kmetal
export PATH := $(CURDIR)/.lab/bin:$(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
VENV := .venv
COLLECTION := collections/ansible_collections/kmetal/platform
PYTEST_ARGS ?=

.PHONY: help deps apt venv binaries artifacts lab-artifacts lab-up lab-down demo test unit lint sanity integration molecule build clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

apt: ## install the Debian packages the lab needs (root; only the missing ones)
	@scripts/apt-deps.sh

venv: ## create .venv with pyproject.toml's dependencies
	@scripts/bootstrap-venv.sh

binaries: ## build the lab's pinned binaries once (kube-apiserver, kube-controller-manager, kubeadm, kubectl, etcd, helm)
	@lab/build-binaries.sh

artifacts: ## build once what the lab mirror serves (binaries, release files, images) into $(KMETAL_CACHE)
	@lab/build-artifacts.sh

# What the tests and the demo use: everything the lab mirror serves, the platform components' images included.
lab-artifacts: binaries
	@lab/build-artifacts.sh

deps: apt venv binaries lab-artifacts

lab-up: deps ## start the lab: its API, its mirror (filled from the cache) and its hosts (each reused when healthy)
	@bin/lab up
	@bin/lab mirror up
	@bin/lab hosts up 3

lab-down: ## stop everything the lab started
	@if [ -x .venv/bin/python ]; then bin/lab hosts down --all 2>/dev/null || true; bin/lab mirror down || true; bin/lab down; fi

demo: lab-up ## run site.yml on the lab (the whole flow)
	ansible-playbook -i inventories/lab/hosts.yml site.yml

test: deps ## run every test (what CI runs)
	@scripts/test.sh

unit: venv ## unit tests only (pure logic, no lab)
	python -m pytest -m "not lab and not hosts" $(PYTEST_ARGS)

lint: venv ## ansible-lint, production profile
	ansible-lint --profile production

sanity: venv ## ansible-test sanity of the collection
	@scripts/sanity.sh

integration: deps ## module and lab tests against the lab API
	python -m pytest -m "lab and not hosts" $(PYTEST_ARGS)

molecule: deps ## molecule scenarios of the host roles on the lab hosts
	@scripts/molecule.sh

build: venv ## build the collection tarball into build/
	ansible-galaxy collection build --force --output-path build $(COLLECTION)

clean: lab-down ## remove the venv, the lab state and build output (the cache in $KMETAL_CACHE stays)
	rm -rf .venv .lab build $(COLLECTION)/tests/output
