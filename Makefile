# Every target sets up what it needs: on a fresh machine `make test` and `make demo` are enough.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A top-level folder named operator/ must never shadow the standard library's `operator`
# module when a tool runs with the repository root as its working directory.
export PYTHONSAFEPATH := 1

STAMP := $(VENV)/.installed

.PHONY: venv test pytest lint typecheck layers crds demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## test: lint, types, layers, then the whole test suite
test: lint typecheck layers pytest

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gastown workflows activities operator cli tests bench
	$(BIN)/ruff format --check gastown workflows activities operator cli tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

## crds: regenerate the CRD YAML from the pydantic models
crds: $(STAMP)
	$(BIN)/python -m gastown.api.crdgen

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
