# Every target builds .venv from the requirements files when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench serve clean checkov lock audit

# The runtime packages come from the hash-locked requirements.txt (what Azure's remote build deploys), the tools
# after them.
$(STAMP): requirements.txt requirements.in requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Re-resolve the runtime lock after changing requirements.in (needs the package index).
lock: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file requirements.txt requirements.in

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

demo: $(STAMP)
	$(PY) -m emulator.demo

test: $(STAMP) $(CHECKOV_STAMP) $(AZURITE) lint typecheck
	CHECKOV=$(CHECKOV_VENV)/bin/checkov AZURITE=$(AZURITE) $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest -m "not standin"

bench: $(STAMP) $(AZURITE)
	AZURITE=$(AZURITE) $(PY) -m bench

serve: $(STAMP)
	$(PY) -m emulator serve --seed

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache out
