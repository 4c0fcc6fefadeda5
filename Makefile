# Every target sets up what it needs: on a fresh machine `make test` and `make demo` are enough.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# No PYTHONSAFEPATH: operator/ has no __init__.py, so with the repository root on sys.path the
# standard library's `operator` still wins (docs/architecture.md, Layout; tests/test_layout.py).

STAMP := $(VENV)/.installed

.PHONY: venv test pytest lint typecheck layers crds demo demo-containers demo-down clean test-tools pod-tools

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## test: lint, types, layers, then the whole test suite
test: lint typecheck layers pytest

pytest: $(STAMP) test-tools
	$(BIN)/pytest $(PYTEST_ARGS)

# ---------------------------------------------------------------- polecat runtime test tools
# What tests/runtime and tests/ui need besides Python: the real Claude Code CLI (pinned,
# project-local under .tools/), Debian's openssh-server (a throwaway sshd on a loopback port),
# Debian's chromium (tests/ui: the Temporal Web UI in a headless browser), a non-root pod user
# (uid 65532: claude refuses to skip permissions as root), and a venv that user can execute
# holding only the runtime and pydantic (as in the polecat-agent image). Idempotent and fast
# when everything is in place.
TOOLS := .tools
CLAUDE_CODE_VERSION := 2.1.332
POD_UID := 65532
POD_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v $(PYTHON))
POD_VENV := $(TOOLS)/pod-venv
CLAUDE_STAMP := $(TOOLS)/.claude-code-$(CLAUDE_CODE_VERSION)

test-tools: pod-tools $(CLAUDE_STAMP)
	@command -v sshd >/dev/null 2>&1 || test -x /usr/sbin/sshd || { \
	  test "$$(id -u)" = 0 || { echo "openssh-server is missing (apt-get install openssh-server)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null; }
	@# tests/ui opens the Temporal Web UI in headless Chromium (Debian's package).
	@command -v chromium >/dev/null 2>&1 || { \
	  test "$$(id -u)" = 0 || { echo "chromium is missing: run make test-tools as root, or apt-get install chromium"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@chromium --version 2>/dev/null | head -1

# What sandbox pods need to run gt-polecat as their non-root user: that user, a venv it can
# execute, and a path to this checkout it may traverse.
pod-tools: $(POD_VENV)/.installed
	@if [ "$$(id -u)" = 0 ] && ! getent passwd $(POD_UID) >/dev/null; then \
	  useradd --uid $(POD_UID) --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin polecat 2>/dev/null; fi
	@# The pod user runs .tools/pod-venv and the test agents from this checkout: let it traverse
	@# (not list) the directories above it, e.g. when CI clones under /root.
	@if [ "$$(id -u)" = 0 ]; then d="$(CURDIR)"; while [ "$$d" != / ]; do \
	  chmod o+x "$$d"; d=$$(dirname "$$d"); done; fi

$(CLAUDE_STAMP):
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error \
	  @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)
	$(TOOLS)/node_modules/.bin/claude --version
	touch $@

$(POD_VENV)/.installed: pyproject.toml $(STAMP)
	rm -rf $(POD_VENV)
	$(POD_PYTHON) -m venv --without-pip $(POD_VENV)
	$(BIN)/python -m pip --python $(POD_VENV)/bin/python install -q --no-warn-conflicts --no-deps -e .
	$(BIN)/python -m pip --python $(POD_VENV)/bin/python install -q 'pydantic>=2.9'
	touch $@

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

## demo: the main job on this machine: sandbox cluster, Temporal (with UI), worker, one polecat
demo: $(STAMP) pod-tools
	$(BIN)/kubectl-gt dev up
	$(BIN)/kubectl-gt dev demo

## demo-containers: `make demo` with the sandbox's pods run by podman from the real images
demo-containers: $(STAMP) images
	$(BIN)/kubectl-gt dev up --containers
	$(BIN)/kubectl-gt dev demo

## demo-down: stop what `make demo` started
demo-down: $(STAMP)
	$(BIN)/kubectl-gt dev down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
