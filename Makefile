# statesafe.backup — developer entry points.
#
#   make demo          local cluster up; the sample Software Factory stack seeded, backed up,
#                      destroyed, restored, and its fingerprint compared
#   make test          everything CI runs: unit tests, sanity, lint, compat, cluster, integration tests
#   make compat        unit and sanity tests with each older ansible-core (tests/compat/versions.txt)
#   make cluster       bring the local cluster up (builds what is missing; prints the kubeconfig)
#   make cluster-down  stop it; `make cluster-reset` also deletes its state
#   make molecule      the roles' molecule scenario (molecule/default) against the local cluster
#
# Nothing is built inside the work tree: binaries, images and the virtualenv are
# cached under ~/.cache/statesafe, keyed by version.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CLUSTER := tests/cluster/cluster.sh
SAMPLE := tests/cluster/sample/sample.sh

.PHONY: help
help:
	@sed -n 's/^#   //p' Makefile

.PHONY: deps
deps:  ## system packages (Debian) and the Python virtualenv
	tests/cluster/install-deps.sh
	tests/venv.sh >/dev/null

.PHONY: cluster
cluster: deps
	$(CLUSTER) up

.PHONY: cluster-down
cluster-down:
	$(CLUSTER) down

.PHONY: cluster-reset
cluster-reset:
	$(CLUSTER) reset

.PHONY: sample
sample: cluster
	$(SAMPLE) deploy
	$(SAMPLE) seed

.PHONY: demo
demo: cluster
	tests/cluster/sample/demo.sh

# STATESAFE_STRICT=1: a skip off tests/skip-allowlist.txt, or a directory below its floor in
# tests/test-floors.txt, fails the run (tests/conftest.py); CI sets CI=true, which does the same.
.PHONY: unit
unit: deps
	STATESAFE_STRICT=1 "$$(tests/venv.sh)/bin/python" -m pytest -q tests/unit tests/cluster/images

.PHONY: sanity
sanity: deps
	tests/sanity.sh

# ansible-core 2.16-2.18 (meta/runtime.yml accepts 2.16+); each in its own cached virtualenv.
.PHONY: compat
compat: deps
	tests/compat/run.sh

.PHONY: offsite-tools
offsite-tools:  ## MinIO and age for the offsite tests, built from the Go module proxy (cached)
	tests/offsite/minio/build.sh >/dev/null

.PHONY: etcd-tools
etcd-tools: cluster  ## etcdutl and etcdctl of the cluster's etcd version, for the etcd role's tests (cached)
	tests/cluster/k8s/build-etcd-tools.sh >/dev/null

.PHONY: runner-image
runner-image: cluster  ## the collection's runner image, imported into the local cluster (cached by content)
	tests/cluster/images/runner.sh >/dev/null

# Test files run side by side in INTEGRATION_WORKERS processes, each file in one process (its module
# fixtures and namespace stay together), longest first (tests/integration/conftest.py, SLOWEST_FIRST;
# --no-loadscope-reorder keeps xdist from reordering them by test count). On two cores the run is
# CPU-bound, so more workers do not make it shorter (docs/development.md, "Time budget").
# INTEGRATION_WORKERS=0 runs them one after another.
INTEGRATION_WORKERS ?= 4
# What the integration tests need besides the tests: `make test` builds it while the other tests run.
.PHONY: prepare
prepare: cluster offsite-tools etcd-tools runner-image

.PHONY: integration
integration: prepare
	STATESAFE_STRICT=1 STATESAFE_KUBECONFIG="$$($(CLUSTER) kubeconfig)" \
	  "$$(tests/venv.sh)/bin/python" -m pytest -q -n $(INTEGRATION_WORKERS) --dist loadfile --no-loadscope-reorder tests/integration

# `make integration` runs it too (tests/integration/roles/test_molecule.py is the wrapper).
.PHONY: molecule
molecule: cluster
	STATESAFE_KUBECONFIG="$$($(CLUSTER) kubeconfig)" \
	  "$$(tests/venv.sh)/bin/python" -m pytest -q tests/integration/roles/test_molecule.py

# unit, sanity and compat, with `make prepare` in the background meanwhile, then integration (tests/all.sh).
.PHONY: test
test: deps
	tests/all.sh
