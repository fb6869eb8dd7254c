# Two commands for a newcomer: `make run` and `make test`. Everything else is built on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8888
DEVCLUSTER_STATE ?= $(or $(TMPDIR),/tmp)/kuberay-api-devcluster
export DEVCLUSTER_STATE

.PHONY: help venv system-deps cluster cluster-down deploy undeploy run lint fmt hooks test unit protos bench

help:
	@echo "make run          start the local control plane (built on first use) and the server on :$(PORT), gRPC on :8887"
	@echo "make test         run the checks (make lint), then every test (unit, integration, contract, browser)"
	@echo "make lint         ruff, mypy and the import contracts (settings in pyproject.toml)"
	@echo "make fmt          apply ruff's fixes to the tree (ruff check --fix)"
	@echo "make hooks        install the git pre-commit hook (.pre-commit-config.yaml): ruff and the import contracts"
	@echo "make cluster      start only the local control plane (kept if it runs); prints KUBECONFIG=<path>"
	@echo "make cluster-down stop the local control plane, its real node too, and remove its state"
	@echo "make deploy       build the image, load it into the real node, helm upgrade --install (NodePort 31888)"
	@echo "make undeploy     helm uninstall the server's release"
	@echo "make protos       regenerate app/rpc/generated/ from proto/ (commit the result)"
	@echo "make bench        install wrk if missing, start the local control plane, run bench.reads (~15 min), bench.auth"
	@echo "                  (~5 min), bench.writes (~4 min) and a short soak ($(BENCH_SOAK_ARGS)), printing their tables"
	@echo "                  (~27 min in all); options: BENCH_READS_ARGS, BENCH_AUTH_ARGS, BENCH_WRITES_ARGS, BENCH_SOAK_ARGS"
	@echo "                  (.venv/bin/python -m bench.<name> --help)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

system-deps:
	@scripts/system-deps.sh $(SYSTEM_DEPS)

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

# ruff's fixes only: the tree is not run through a formatter.
fmt: venv
	$(VENV)/bin/ruff check --fix .

hooks: venv
	$(VENV)/bin/pre-commit install

test: lint system-deps
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit tests/services

# The generated modules are committed; tests/unit/test_protos.py fails when they are stale.
protos: venv
	$(PY) scripts/gen_protos.py

# The benchmarks (bench/, README "Benchmark") against the local control plane. The soak runs in a
# short form: 3 minutes, the RSS baseline after the first (its README run is 10 minutes).
BENCH_KUBECONFIG := $(DEVCLUSTER_STATE)/kubeconfig
BENCH_READS_ARGS ?=
BENCH_AUTH_ARGS ?=
BENCH_WRITES_ARGS ?=
BENCH_SOAK_ARGS ?= --minutes 3 --warmup 1

# system-deps, reached through cluster, then installs wrk too, before the control plane starts.
bench: SYSTEM_DEPS = bench
bench: cluster
	$(PY) -m bench.reads --kubeconfig $(BENCH_KUBECONFIG) $(BENCH_READS_ARGS)
	$(PY) -m bench.auth --kubeconfig $(BENCH_KUBECONFIG) $(BENCH_AUTH_ARGS)
	$(PY) -m bench.writes --kubeconfig $(BENCH_KUBECONFIG) $(BENCH_WRITES_ARGS)
	$(PY) -m bench.soak --kubeconfig $(BENCH_KUBECONFIG) $(BENCH_SOAK_ARGS)
