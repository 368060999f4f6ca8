# One entry point for people, CI (.ci/run) and `sam build` (build-SharedLayer).
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

# Python 3.12 exactly: a pyenv 3.12.x if there is one, else python3.12 on PATH.
PY312 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))

PIP_QUIET := --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: venv lint test bench demo clean build-SharedLayer chromium

venv: $(STAMP)

$(BIN)/python:
	@if [ -z "$(PY312)" ]; then \
	  echo "error: no Python 3.12 found (pyenv versions/3.12.*, python3.12 on PATH); run 'make PY312=/path/to/python3.12'" >&2; \
	  exit 1; \
	fi
	$(PY312) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip

# Re-installs whenever pyproject.toml changes (dependencies, tool config, entry points).
$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { \
	  echo "error: $(VENV) is not Python 3.12; run 'make clean venv'" >&2; exit 1; }
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench
	$(BIN)/mypy shared functions
	$(BIN)/lint-imports

test: lint chromium
	$(BIN)/pytest -q tests

# The HTML report tests screenshot pages with Debian's chromium (SPEC section 10).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && \
	  $(SUDO) apt-get install -y --no-install-recommends chromium; }

bench: $(STAMP)
	$(BIN)/python bench/run.py

demo: $(STAMP)
	$(BIN)/python -m shared.cli.main demo

clean:
	rm -rf $(VENV) .aws-sam build dist out .local-stack \
	  .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# Called by `sam build` for SharedLayer (BuildMethod: makefile) with ARTIFACTS_DIR set.
# Lambda adds /opt/python to sys.path, so the layer carries python/shared and the runtime
# dependencies of pyproject.toml, as Linux x86_64 CPython 3.12 wheels whatever the build host.
LAYER_PY       ?= $(or $(PY312),python3)
LAYER_PLATFORM ?= manylinux2014_x86_64
RUNTIME_DEPS    = $(shell $(LAYER_PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))")

build-SharedLayer:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "error: ARTIFACTS_DIR is unset (sam build sets it)" >&2; exit 1; fi
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R shared "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python/shared" -type d -name __pycache__ -prune -exec rm -rf {} +
	$(LAYER_PY) -m pip install $(PIP_QUIET) --target "$(ARTIFACTS_DIR)/python" \
	  --platform $(LAYER_PLATFORM) --implementation cp --python-version 3.12 --only-binary=:all: \
	  $(RUNTIME_DEPS)
