# One entry point for people, CI (.ci/run) and `sam build` (build-SharedLayer).
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

# Python 3.12 exactly: a pyenv 3.12.x if there is one, else python3.12 on PATH.
PY312 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))

PIP_QUIET := --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: venv lint test bench demo clean build-SharedLayer chromium tools validate sam-build template-checks

venv: $(STAMP)

$(BIN)/python:
	@if [ -z "$(PY312)" ]; then \
	  echo "error: no Python 3.12 found (pyenv versions/3.12.*, python3.12 on PATH); run 'make PY312=/path/to/python3.12'" >&2; \
	  exit 1; \
	fi
	$(PY312) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip

# Re-installs whenever pyproject.toml changes (dependencies, tool config, entry points), and
# when the compiled fast path's source or build changes, so tests never run a stale extension.
$(STAMP): pyproject.toml setup.py shared/services/native_batches.py shared/services/native_batches.pxd \
          | $(BIN)/python
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { \
	  echo "error: $(VENV) is not Python 3.12; run 'make clean venv'" >&2; exit 1; }
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench
	$(BIN)/mypy shared functions
	$(BIN)/lint-imports

test: lint chromium template-checks
	$(BIN)/pytest -q tests

# Template checks (SPEC section 10) in their own virtualenv: aws-sam-cli pins its own boto3 and
# click, and cfn-lint 1.53 needs aws-sam-translator>=1.111, so pydantic ~=2.13, where .venv has
# pydantic 2.14. aws-sam-cli 1.170.0 accepts cfn-lint >=1.52,<1.59, so one virtualenv holds
# both; cfn-lint stays on 1.53.x because later releases stop expanding SAM. The stamp names the
# pins: changing one rebuilds the virtualenv.
SAM_VENV     ?= .venv-sam
SAM_BIN      := $(SAM_VENV)/bin
SAM_CLI_PIN  := aws-sam-cli==1.170.0
CFN_LINT_PIN := cfn-lint==1.53.3
SAM_STAMP    := $(SAM_VENV)/.installed-$(subst ==,-,$(SAM_CLI_PIN))-$(subst ==,-,$(CFN_LINT_PIN))
# Offline: `sam validate --lint` needs a region, no credentials; no telemetry; `sam build`
# finds python3.12 on PATH.
SAM_ENV      := AWS_DEFAULT_REGION=eu-west-1 SAM_CLI_TELEMETRY=0 PATH="$(dir $(PY312)):$$PATH"

tools: $(SAM_STAMP)

$(SAM_STAMP):
	@if [ -z "$(PY312)" ]; then echo "error: no Python 3.12 found for $(SAM_VENV)" >&2; exit 1; fi
	rm -rf $(SAM_VENV)
	$(PY312) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install $(PIP_QUIET) '$(SAM_CLI_PIN)' '$(CFN_LINT_PIN)'
	@touch $@

# Then each linter must refuse a broken template: a linter that passes everything (a SAM
# transform it skipped, a pin gone wrong) would otherwise look the same as a clean template.
BROKEN_TEMPLATE := tests/infrastructure/fixtures/broken-template.yaml

validate: $(SAM_STAMP)
	$(SAM_ENV) $(SAM_BIN)/sam validate --lint --template template.yaml
	$(SAM_ENV) $(SAM_BIN)/cfn-lint template.yaml
	@! $(SAM_ENV) $(SAM_BIN)/sam validate --lint --template $(BROKEN_TEMPLATE) >/dev/null 2>&1 || \
	  { echo "error: sam validate --lint accepted $(BROKEN_TEMPLATE)" >&2; exit 1; }
	@! $(SAM_ENV) $(SAM_BIN)/cfn-lint $(BROKEN_TEMPLATE) >/dev/null 2>&1 || \
	  { echo "error: cfn-lint accepted $(BROKEN_TEMPLATE)" >&2; exit 1; }

# The layer's pip download (--platform manylinux) needs the package index or pip's cache.
sam-build: $(SAM_STAMP) $(STAMP)
	$(SAM_ENV) $(SAM_BIN)/sam build --template template.yaml \
	  --config-file infra/samconfig.toml --config-env dev --parallel
	$(BIN)/python -m tests.infrastructure.sam_build_check .aws-sam/build

template-checks: validate sam-build

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
	rm -rf $(VENV) $(SAM_VENV) .aws-sam build dist out .local-stack \
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
	# the optional compiled build of the rating fast path (setup.py) is for this host and only
	# `billing rate` uses it: its products never go to Lambda, which runs native_batches.py
	find "$(ARTIFACTS_DIR)/python/shared" -type f \( -name '*.so' -o -name '*.c' \) -delete
	$(LAYER_PY) -m pip install $(PIP_QUIET) --target "$(ARTIFACTS_DIR)/python" \
	  --platform $(LAYER_PLATFORM) --implementation cp --python-version 3.12 --only-binary=:all: \
	  $(RUNTIME_DEPS)
