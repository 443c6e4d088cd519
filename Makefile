# Every target builds .venv from the requirements files when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench serve clean checkov lock audit worker-env

# The runtime packages come from the hash-locked requirements.txt (what Azure's remote build deploys), the tools
# after them.
$(STAMP): requirements.txt requirements.in requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Re-resolve the runtime lock after changing requirements.in (needs the package index). One universal lock for
# Python 3.11 to 3.13: uv writes environment markers where the versions' packages differ.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements.txt requirements.in

# Known vulnerabilities in the locked runtime packages. Needs the vulnerability database online, which
# this workplace cannot reach: then it says so and fails, rather than passing silently. Not part of `make test`.
audit: $(STAMP)
	@$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip -r requirements.txt --progress-spinner off \
		|| { echo "make audit: NOT AUDITED - pip-audit failed or could not reach its vulnerability database" >&2; exit 1; }

# checkov (infra scan in tests/infra) has heavy, conflicting dependencies: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# Azurite (the Storage emulator) for the rotation-queue tests, pinned, in a local node_modules.
AZURITE := .tools/node_modules/.bin/azurite-queue
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools azurite@3.35.0

# Kusto.Language, Microsoft's KQL parser and binder (compiled to JavaScript), for the KQL checks, pinned.
KUSTO := .tools/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js
$(KUSTO):
	npm install --silent --no-audit --no-fund --prefix .tools @kusto/language-service-next@12.4.1

# The real Functions worker (azure-functions-runtime, Python 3.13 only) in a 3.13 environment of its own: the app's
# lock as Azure installs it on 3.13, what the host's proxy worker brings (requirements-worker.txt), and the host's
# generated FunctionRpc protobuf classes, taken by hash from a wheel that is downloaded, never installed
# (tests/worker/protos.py). tools/find-python313 finds 3.13 or fails saying how to get it.
WORKER_VENV := .venv-worker
WORKER_STAMP := $(WORKER_VENV)/.installed
$(WORKER_STAMP): requirements.txt requirements-worker.txt tests/worker/protos-wheel.txt tests/worker/protos.py
	py313=$$(tools/find-python313) && { test -x $(WORKER_VENV)/bin/python || "$$py313" -m venv $(WORKER_VENV); }
	$(WORKER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(WORKER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-worker.txt
	rm -rf $(WORKER_VENV)/wheels && $(WORKER_VENV)/bin/python -m pip download --quiet --disable-pip-version-check \
		--no-deps --require-hashes -r tests/worker/protos-wheel.txt -d $(WORKER_VENV)/wheels
	$(WORKER_VENV)/bin/python tests/worker/protos.py $(WORKER_VENV)/wheels $(WORKER_VENV)/proxy
	touch $(WORKER_STAMP)

worker-env: $(WORKER_STAMP)

demo: $(STAMP)
	$(PY) -m emulator.demo

test: $(STAMP) $(CHECKOV_STAMP) $(AZURITE) $(KUSTO) $(WORKER_STAMP) lint typecheck
	CHECKOV=$(CHECKOV_VENV)/bin/checkov AZURITE=$(AZURITE) KUSTO=$(KUSTO) WORKER_VENV=$(WORKER_VENV) $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest -m "not standin"

bench: $(STAMP)
	$(PY) -m bench

serve: $(STAMP)
	$(PY) -m emulator serve --seed

clean:
	rm -rf $(VENV) .venv313 $(CHECKOV_VENV) $(WORKER_VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache out
