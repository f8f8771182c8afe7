# GroupShare: `make run` starts the trackers of tracker_info.txt and a node with its UI at http://localhost:8080;
# `make test` installs what the tests need (Chromium and wrk included) and runs them. A fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRACKERS := tracker_info.txt
NODE ?= 127.0.0.1:6881

.PHONY: all venv run test check bench browser wrk clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }

# Debian's wrk, the load generator of the tracker benchmarks (scenarios 5 and 5b).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends wrk; }

run: venv
	@$(PY) -m peer_node.devrun $(TRACKERS) $(NODE)

# The suite, then the linters (ruff, mypy --strict on the code and the tests): CI is red on either.
test: venv browser wrk
	$(PY) -m pytest -q
	$(MAKE) -s check

check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: venv wrk
	$(PY) -m bench

clean:
	rm -rf $(VENV) tracker_data peer_data .mypy_cache .ruff_cache .pytest_cache test-artifacts
