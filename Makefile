# The two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all setup prometheus lint lint-types test test-quick test-unit crds demo clean

all: test

# The operator (with its test extra) and the sandbox distribution (emulator, runtime, harness, demo):
# two distributions, one venv. The operator's wheel and image never contain the sandbox.
$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e ./sandbox
	touch $@

setup: $(STAMP) prometheus

# Debian's prometheus and alertmanager: the tests and the sandbox start them themselves on 127.0.0.1.
prometheus:
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's prometheus and prometheus-alertmanager"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  else \
	    echo "missing: run 'sudo apt-get install --no-install-recommends prometheus prometheus-alertmanager'" >&2; exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mlaiops crds --check >/dev/null
	$(BIN)/mlaiops docs --check >/dev/null
	$(BIN)/mlaiops metrics-doc --check >/dev/null

# Types and layers (becomes part of lint once the planners land).
lint-types: $(STAMP)
	PYTHONPATH=operator $(BIN)/mypy
	PYTHONPATH=operator:sandbox $(BIN)/lint-imports

# Everything, every tier (the CI contract).
test: setup lint
	$(BIN)/pytest

# The quick loop: unit + integration (no closed-loop e2e), fewer Hypothesis examples.
test-quick: setup
	HYPOTHESIS_PROFILE=quick $(BIN)/pytest -m "not e2e"

# Pure unit tests only: seconds, no servers.
test-unit: $(STAMP)
	HYPOTHESIS_PROFILE=quick $(BIN)/pytest -m unit tests/unit

crds: $(STAMP)
	$(BIN)/mlaiops crds

demo: setup
	$(BIN)/python -m mlaiops_demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .mypy_cache .import_linter_cache .grimp_cache
