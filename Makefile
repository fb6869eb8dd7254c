# Two commands for a newcomer: `make run` and `make test`. Everything else is built on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8888
DEVCLUSTER_STATE ?= $(or $(TMPDIR),/tmp)/kuberay-api-devcluster
export DEVCLUSTER_STATE

.PHONY: help venv system-deps cluster cluster-down deploy undeploy run lint test unit protos

help:
	@echo "make run          start the local control plane (built on first use) and the server on :$(PORT), gRPC on :8887"
	@echo "make test         run the checks (make lint), then every test (unit, integration, contract, browser)"
	@echo "make lint         ruff, mypy and the import contracts (settings in pyproject.toml)"
	@echo "make cluster      start only the local control plane (kept if it runs); prints KUBECONFIG=<path>"
	@echo "make cluster-down stop the local control plane, its real node too, and remove its state"
	@echo "make deploy       build the image, load it into the real node, helm upgrade --install (NodePort 31888)"
	@echo "make undeploy     helm uninstall the server's release"
	@echo "make protos       regenerate app/rpc/generated/ from proto/ (commit the result)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

system-deps:
	@scripts/system-deps.sh

cluster: venv system-deps
	$(PY) -m devcluster up

cluster-down: venv
	$(PY) -m devcluster down

deploy: cluster
	$(PY) -m devcluster deploy

undeploy: venv
	$(PY) -m devcluster undeploy

run: cluster
	@echo "Swagger UI: http://localhost:$(PORT)/swagger-ui/   gRPC: localhost:8887 (KUBERAY_API_GRPC_BIND)"
	KUBECONFIG=$(DEVCLUSTER_STATE)/kubeconfig PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# The checks run first and stop `make test` on any finding.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint system-deps
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

# The generated modules are committed; tests/unit/test_protos.py fails when they are stale.
protos: venv
	$(PY) scripts/gen_protos.py
