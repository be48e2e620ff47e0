# jupyterlab-memtrack: every set-up step lives here, so that a fresh machine
# needs only `make lab` or `make test`. Steps are stamped under .make/ and
# rerun only when their inputs change.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Playwright must never download a browser: the UI tests use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM_PATH := $(CHROMIUM)
LAB_PORT ?= 8888

PY_DEV_DEPS := "jupyterlab>=4.6,<5" "notebook>=7.6,<8" "ipykernel>=7" "ipywidgets>=8" "jupyter_client>=8" \
	"comm>=0.2" "hatchling>=1.5" "hatch-jupyter-builder>=0.9" "hatch-nodejs-version>=0.3.2" editables \
	"pytest>=7" "jsonschema>=4" "ruff>=0.5" \
	"numpy>=1.24" "pandas>=2.0" "pyarrow>=14" "dask[distributed]>=2024.1" \
	"torch==2.13.0" "jax>=0.4" "cupy-cuda12x>=13"
TS_SOURCES := $(wildcard src/*.ts) $(wildcard style/*) $(wildcard style/icons/*) \
	$(wildcard schema/settings/*.json) package.json tsconfig.json
PY_SOURCES := $(filter-out %/_version.py,$(wildcard python_ext/memtrack/*.py python_ext/memtrack/*/*.py)) pyproject.toml \
	python_ext/memtrack/measure/_native.c hatch_build.py

.PHONY: help setup build native lab test test-py test-js test-ui test-compat lint format bench chromium valgrind clean

help:
	@echo "make lab    set everything up and start JupyterLab on examples/tour.ipynb"
	@echo "make test   set everything up and run lint, pytest, jest and the Galata UI tests"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make test-compat  IPython's, ipykernel's and nbclient's own tests and real notebooks, with memtrack"
	@echo "make native compile python_ext/memtrack/measure/_native.c in place (after editing it)"
	@echo "make lint | format | clean"

$(PY):
	python3 -m venv $(VENV)

$(STAMPS)/py-deps: $(PY) Makefile | $(STAMPS)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PY_DEV_DEPS)
	touch $@

$(STAMPS)/js-deps: $(STAMPS)/py-deps package.json yarn.lock .yarnrc.yml
	jlpm install
	touch $@

$(STAMPS)/build: $(STAMPS)/js-deps $(TS_SOURCES)
	jlpm build:prod
	touch $@

# Editable install: Python edits are live, and pip copies the built
# labextension with install.json into the venv's share/jupyter/labextensions,
# exactly where `pip install .` puts it (rerun after each frontend build).
# hatch_build.py compiles the native engine next to its C file on the way
# (a warning and the tracemalloc fallback without a compiler).
$(STAMPS)/install: $(STAMPS)/build $(PY_SOURCES) install.json
	$(PY) -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $@

$(STAMPS)/ui-deps: $(STAMPS)/py-deps ui-tests/package.json ui-tests/yarn.lock
	cd ui-tests && jlpm install
	touch $@

$(STAMPS):
	mkdir -p $(STAMPS)

setup: $(STAMPS)/install

build: $(STAMPS)/build

# The native engine alone, in place, with the compiler's messages (fails when it does).
native: $(STAMPS)/py-deps
	$(PY) hatch_build.py

lab: setup
	jupyter lab examples/tour.ipynb --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "Installing Debian's chromium for the UI tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi
	@$(CHROMIUM) --version

lint: $(STAMPS)/js-deps
	ruff check python_ext bench hatch_build.py
	ruff format --check python_ext bench hatch_build.py
	jlpm lint

format: $(STAMPS)/js-deps
	ruff check --fix python_ext bench hatch_build.py
	ruff format python_ext bench hatch_build.py
	jlpm lint:fix

test-py: setup
	$(PY) -m pytest

test-js: $(STAMPS)/js-deps
	jlpm test

test-ui: setup $(STAMPS)/ui-deps chromium
	cd ui-tests && jlpm test

test: lint test-py test-js test-ui

# IPython's, ipykernel's and nbclient's own test suites (the sdists of the installed versions,
# downloaded once into compat/.cache) and real notebooks, bare and under each tracking mode,
# compared test by test and cell by cell: fails on any test that passes bare and fails tracked.
# COMPAT_ARGS narrows it, e.g. COMPAT_ARGS="--suites ipython --modes cell".
test-compat: setup
	$(PY) compat/run.py $(COMPAT_ARGS)

# The tools users would pick instead, compared by bench/peers.py. A peer that fails to install
# is reported as not installed in bench/results.md instead of stopping the benchmarks.
BENCH_PEERS := ipython_memory_usage memory_profiler memray Pympler objgraph

$(STAMPS)/bench-peers: $(STAMPS)/py-deps Makefile
	@for p in $(BENCH_PEERS); do \
		$(PY) -m pip install --quiet $$p || echo "could not install $$p (bench/results.md says so)"; \
	done
	touch $@

# bench/instructions.py counts instructions with valgrind (Debian's), the same on a busy machine.
valgrind:
	@if ! command -v valgrind >/dev/null; then \
		echo "Installing Debian's valgrind for bench/instructions.py"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq valgrind \
			|| echo "could not install valgrind: bench/instructions.py will say it skipped"; \
	fi

bench: setup $(STAMPS)/ui-deps $(STAMPS)/bench-peers chromium valgrind
	$(PY) bench/run.py
	$(PY) bench/client.py
	$(PY) bench/sizes.py
	$(PY) bench/gpu_check.py
	$(PY) bench/instructions.py
	$(PY) bench/peers.py
	cd ui-tests && jlpm playwright test -c playwright.bench.config.js

clean:
	rm -rf $(STAMPS) lib python_ext/memtrack/labextension tsconfig.tsbuildinfo \
		python_ext/memtrack/measure/_native*.so \
		ui-tests/test-results ui-tests/playwright-report
