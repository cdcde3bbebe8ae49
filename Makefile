# statesafe.backup — developer entry points.
#
#   make demo          local cluster up; the sample Software Factory stack seeded, backed up,
#                      destroyed, restored, and its fingerprint compared
#   make test          everything CI runs: unit tests, sanity, lint, cluster, integration tests
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

.PHONY: unit
unit: deps
	"$$(tests/venv.sh)/bin/python" -m pytest -q tests/unit tests/cluster/images

.PHONY: sanity
sanity: deps
	tests/sanity.sh

.PHONY: offsite-tools
offsite-tools:  ## MinIO and age for the offsite tests, built from the Go module proxy (cached)
	tests/offsite/minio/build.sh >/dev/null

.PHONY: integration
integration: cluster offsite-tools
	STATESAFE_KUBECONFIG="$$($(CLUSTER) kubeconfig)" \
	  "$$(tests/venv.sh)/bin/python" -m pytest -q tests/integration

# `make integration` runs it too (tests/integration/roles/test_molecule.py is the wrapper).
.PHONY: molecule
molecule: cluster
	STATESAFE_KUBECONFIG="$$($(CLUSTER) kubeconfig)" \
	  "$$(tests/venv.sh)/bin/python" -m pytest -q tests/integration/roles/test_molecule.py

.PHONY: test
test: unit sanity integration
