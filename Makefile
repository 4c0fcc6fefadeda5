# Every target sets up what it needs: on a fresh machine `make test` and `make demo` are enough.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# No PYTHONSAFEPATH: operator/ has no __init__.py, so with the repository root on sys.path the
# standard library's `operator` still wins (docs/architecture.md, Layout; tests/test_layout.py).

STAMP := $(VENV)/.installed

.PHONY: venv test pytest lint typecheck layers crds demo demo-containers demo-down clean \
  test-tools pod-tools container-tools images

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## test: lint, types, layers, then the whole test suite
test: lint typecheck layers pytest

pytest: $(STAMP) test-tools images
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

# ---------------------------------------------------------------- container images
# The polecat-agent and operator images (deploy/images/*/README.md), built with buildah on the
# local Debian base (deploy/images/base/build.sh: mmdebstrap + podman import), since no registry
# image can be pulled here. Podman's storage is machine-wide: a stamp holds the image ID this
# checkout built, and is dropped when the tag now names another image (removed, or rebuilt from
# another checkout), so `make images` rebuilds exactly when the Containerfiles, the sources they
# copy, the build arguments or the base changed, and takes under a second otherwise (after a
# touch without a change, buildah's layer cache answers every step).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_REPO ?= ghcr.io/gastown
POLECAT_IMAGE := $(IMAGE_REPO)/polecat-agent:$(VERSION)
OPERATOR_IMAGE := $(IMAGE_REPO)/gastown-operator:$(VERSION)
BASE_IMAGE ?= localhost/gastown/debian-base:bookworm
IMAGES_DIR := $(TOOLS)/images
# The build stages trust what this machine trusts (a TLS-inspecting proxy's CA on CI runners):
# passed as a build secret, so no image layer keeps it.
BUILD_CA_BUNDLE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
BUILDAH_BUD = buildah bud --isolation chroot --network host --layers \
  $(if $(BUILD_CA_BUNDLE),--secret id=build-ca$(comma)src=$(BUILD_CA_BUNDLE)) \
  --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg VERSION=$(VERSION)
comma := ,
# What the Containerfiles copy (recursive `=`: only `make images` runs the find).
IMAGE_SOURCES = pyproject.toml README.md deploy/images/constraints.txt \
  $(shell find gastown workflows activities operator cli -type f -not -path '*/__pycache__/*')
CONTAINER_TOOLS := podman buildah runc mmdebstrap

## container-tools: podman, buildah, runc and mmdebstrap from Debian's packages (as root)
container-tools:
	@missing=; for t in $(CONTAINER_TOOLS); do command -v $$t >/dev/null 2>&1 || \
	  test -x /usr/sbin/$$t || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  test "$$(id -u)" = 0 || { echo "container tools missing:$$missing. Run 'make container-tools' as root (apt-get install podman buildah runc mmdebstrap uidmap debian-archive-keyring)." >&2; exit 1; }; \
	  command -v apt-get >/dev/null || { echo "container tools missing:$$missing, and no apt-get: install podman, buildah, runc and mmdebstrap with this system's package manager." >&2; exit 1; }; \
	  echo "installing$$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    podman buildah runc mmdebstrap uidmap debian-archive-keyring ca-certificates >/dev/null; fi

## images: the local Debian base (if needed), then both images, tagged as the chart expects
images: container-tools
	@mkdir -p $(IMAGES_DIR)
	@# One build at a time on this machine: the storage is shared by every checkout (per user).
	@flock /tmp/gastown-images-$$(id -u).lock $(MAKE) --no-print-directory images-locked

.PHONY: images-locked
images-locked:
	@for pair in polecat-agent=$(POLECAT_IMAGE) gastown-operator=$(OPERATOR_IMAGE); do \
	  name=$${pair%%=*}; tag=$${pair#*=}; \
	  have=$$(podman image inspect --format '{{.Id}}' "$$tag" 2>/dev/null); \
	  test -n "$$have" && test "sha256:$$have" = "$$(cat $(IMAGES_DIR)/$$name.iid 2>/dev/null)" || \
	    rm -f $(IMAGES_DIR)/$$name.iid; done
	@deploy/images/base/build.sh $(BASE_IMAGE)
	@podman image inspect --format '{{.Id}}' $(BASE_IMAGE) > $(IMAGES_DIR)/base.id.new
	@cmp -s $(IMAGES_DIR)/base.id.new $(IMAGES_DIR)/base.id && rm $(IMAGES_DIR)/base.id.new || \
	  mv $(IMAGES_DIR)/base.id.new $(IMAGES_DIR)/base.id
	@# The build arguments, rewritten only when they change (a new CLAUDE_CODE_VERSION, ...).
	@echo "$(BASE_IMAGE) $(VERSION) $(CLAUDE_CODE_VERSION) $(BUILD_CA_BUNDLE)" > $(IMAGES_DIR)/args.new
	@cmp -s $(IMAGES_DIR)/args.new $(IMAGES_DIR)/args && rm $(IMAGES_DIR)/args.new || \
	  mv $(IMAGES_DIR)/args.new $(IMAGES_DIR)/args
	@$(MAKE) -s --no-print-directory $(IMAGES_DIR)/polecat-agent.iid $(IMAGES_DIR)/gastown-operator.iid
	@podman images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F -e $(POLECAT_IMAGE) -e $(OPERATOR_IMAGE)

# $(call build-image,name,tag,extra bud args): the build's output goes to a log, shown on failure.
define build-image
	@echo "building $(2) (log: $(IMAGES_DIR)/$(1).log)"
	@$(BUILDAH_BUD) $(3) -f deploy/images/$(1)/Dockerfile -t $(2) --iidfile $@.new . \
	  >$(IMAGES_DIR)/$(1).log 2>&1 || { tail -40 $(IMAGES_DIR)/$(1).log; rm -f $@.new; exit 1; }
	@mv $@.new $@
endef

$(IMAGES_DIR)/polecat-agent.iid: deploy/images/polecat-agent/Dockerfile $(IMAGES_DIR)/base.id \
    $(IMAGES_DIR)/args $(IMAGE_SOURCES)
	$(call build-image,polecat-agent,$(POLECAT_IMAGE),--build-arg NODE_IMAGE=$(BASE_IMAGE) \
	  --build-arg CLAUDE_CODE_VERSION=$(CLAUDE_CODE_VERSION))

$(IMAGES_DIR)/gastown-operator.iid: deploy/images/operator/Dockerfile $(IMAGES_DIR)/base.id \
    $(IMAGES_DIR)/args $(IMAGE_SOURCES)
	$(call build-image,operator,$(OPERATOR_IMAGE))

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

## kustomize: regenerate deploy/kustomize/base from the Helm chart (tests/charts fail on drift)
.PHONY: kustomize
kustomize: $(STAMP)
	$(BIN)/python -m tests.charts.kustomize_base

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
