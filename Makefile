# GroupShare: `make run` starts the trackers of tracker_info.txt and a node with its UI at http://localhost:8080;
# `make test` installs what the tests need (Chromium and wrk included) and runs them. A fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
TRACKERS ?= tracker_info.txt
NODE ?= 127.0.0.1:6881
WEB_PORT ?= 8080

.PHONY: all venv devenv run test check bench browser wrk clean

all: test

# venv: what running trackers and nodes needs (./tracker, ./client and `make run` use it); devenv adds the test and
# benchmark tools (Playwright, libtorrent, ruff, mypy...) for `make test`, `make check` and `make bench`.
venv: $(RUNTIME)

devenv: $(STAMP)

$(RUNTIME): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
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
	@$(PY) -m peer_node.devrun $(TRACKERS) $(NODE) --web-port $(WEB_PORT)

# The suite, then the linters (ruff, mypy --strict on the code and the tests): CI is red on either. Two workers
# (pytest-xdist), each given whole files (their module fixtures stay one): most tests wait on processes, sockets and
# timers rather than compute, so two at once took the suite from 13.5 to 8.5 minutes on this 2-core machine.
TEST_WORKERS ?= 2
test: devenv browser wrk
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile
	$(MAKE) -s check

check: devenv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: devenv wrk
	$(PY) -m bench

clean:
	rm -rf $(VENV) tracker_data peer_data .mypy_cache .ruff_cache .pytest_cache test-artifacts
