# The two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all setup prometheus nginx containers lint collect conformance mutation test test-quick test-unit test-image crds demo image clean

all: test

# Python writes bytecode as each module is first imported, whatever the calling environment says: the install
# compiles nothing (most of the venv's 14,000 modules are never imported), and the hundred server, operator and
# trainer processes of a test run must not each compile what another already did.
unexport PYTHONDONTWRITEBYTECODE

# The operator (with its test extra) and the sandbox distribution (emulator, runtime, harness, demo):
# two distributions, one venv. The operator's wheel and image never contain the sandbox. uv installs them:
# on 2 cores it takes 7 to 15 s where pip took 40 s (without compiling) to 95 s. --native-tls: the
# system's certificate authorities, as pip uses them (an index may sit behind a proxy only they trust).
$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check 'uv>=0.5'
	$(BIN)/uv pip install --quiet --native-tls --python $(BIN)/python -e '.[test]' -e ./sandbox
	touch $@

setup: $(STAMP) prometheus nginx containers

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

# Debian's nginx (split_clients and mirror are built in): the sandbox's Gateway API data plane, one
# process per Gateway that the sandbox starts itself. The system service is never started: a
# policy-rc.d refuses it during the install (one already there is left as it is).
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's nginx (its system service stays stopped)"; \
	    policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null; status=$$?; \
	    if [ -n "$$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; \
	  else \
	    echo "missing: run 'sudo apt-get install --no-install-recommends nginx' (then 'sudo systemctl disable --now nginx')" >&2; exit 1; \
	  fi; \
	fi

# Debian's podman, runc and debootstrap: `make image` and the sandbox's container runtime (--containers).
containers:
	@if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's podman, runc and debootstrap"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null; \
	  else \
	    echo "missing: run 'sudo apt-get install --no-install-recommends podman runc debootstrap'" >&2; exit 1; \
	  fi; \
	fi

# Style, generated files, types (strict on the pure layers) and the import layering contracts.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mlaiops crds --check >/dev/null
	$(BIN)/mlaiops docs --check >/dev/null
	$(BIN)/mlaiops metrics-doc --check >/dev/null
	PYTHONPATH=operator $(BIN)/mypy
	PYTHONPATH=operator:sandbox $(BIN)/lint-imports

# Everything, every tier (the CI contract), in parallel: the e2e suite as seven xdist groups (two fault
# groups, the demo story, three parts of the rest and a short one on real containers, each with its own
# session cluster and operator; tests/e2e/conftest.py) beside the unit and integration tiers. The e2e tests
# mostly wait on real time, so six workers fit two cores: the e2e groups are handed out first, and every
# freed worker then takes the unit and integration modules.
# Before that, lint, the image (the container tests run pods of it) and one collection run side by side,
# each mostly on one core (mypy, podman's build, pytest's imports). The collection writes the bytecode of
# what every worker imports (the libraries and pytest's rewritten test modules) once, not once per worker.
PYTEST_WORKERS ?= 6
test: setup
	$(MAKE) --no-print-directory -j3 --output-sync=target lint image collect
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Quiet when it works; a collection error is shown (the run below would stop on it too).
collect: $(STAMP)
	@log="$$(mktemp)"; if ! $(BIN)/pytest --collect-only -q >"$$log" 2>&1; then tail -40 "$$log"; rm -f "$$log"; exit 1; fi; rm -f "$$log"

# The quick loop: unit + integration (no closed-loop e2e), fewer Hypothesis examples. Four workers: the
# integration tests wait on real servers, so two left a core idle (measured on 2 cores: -n 2 162 s, -n 4
# 134 s, -n 6 152 s, the extra workers' collection costing more than they gain).
# Modules are handed out in collection order, integration first (tests/conftest.py), so that the short unit
# modules fill the workers at the end: the workers finished within 7 s of each other, not 20. tests/e2e is not
# even imported: each of the five collections is 1.2 s of CPU shorter (the tier's wall time: no measurable change).
test-quick: setup
	HYPOTHESIS_PROFILE=quick $(BIN)/pytest -m "not e2e" --ignore=tests/e2e -n 4 --dist loadgroup --no-loadscope-reorder

# Pure unit tests only: seconds, no servers.
test-unit: $(STAMP)
	HYPOTHESIS_PROFILE=quick $(BIN)/pytest -m unit tests/unit

# The official Python client's and kopf's own e2e suites against a fresh `mlaiops-sandbox up` (upstream
# copies in ../shared/conformance, run from there; their own pinned venv .conformance-venv/). Fails on any
# failure docs/sandbox.md does not list as not emulated (exec, attach, port-forward).
conformance: setup
	$(BIN)/python sandbox/conformance/run.py

# Mutation testing of the pure cores (mutmut): each module against only its own unit tests, 2 workers,
# module by module; about 16 minutes on 2 cores, too slow for CI. MUTATION_ARGS: modules, --show, --workers N.
mutation: $(STAMP)
	$(BIN)/python benchmarks/mutation.py $(MUTATION_ARGS)

crds: $(STAMP)
	$(BIN)/mlaiops crds

demo: setup
	$(BIN)/python -m mlaiops_demo $(DEMO_ARGS)

# The Dockerfile built with podman on a Debian base made here by debootstrap (built once, then cached): no
# registry pulls. Prints the size and the three largest layers; IMAGE names the tag.
IMAGE ?= mlaiops:dev
image: containers
	image/build $(IMAGE)

# The demo story with the operator run from the image as the manifests' Deployment runs it (its
# ServiceAccount token mounted in-cluster, non-root, read-only root filesystem, the manifests' limits), and
# its model servers and trainer Jobs as containers of the same image.
test-image: setup image
	$(BIN)/pytest tests/e2e/test_demo_story.py --operator-image $(IMAGE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .conformance-venv .mypy_cache .import_linter_cache .grimp_cache
