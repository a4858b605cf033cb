# Two entry points for a fresh machine:  `make run`  and  `make test`.
# Each creates the virtual environment .venv on first use (Python 3.11 or 3.12 with venv and pip needed) and
# installs exactly the versions of requirements/run.txt or requirements/test.txt (the lock files, with hashes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Beside a checkout that has ../shared/datasets (our CI and dev machines), use the local Kodak copy;
# anywhere else `bench` downloads Kodak into ~/.cache/codec-bench/datasets on first use.
SHARED_DATA := $(wildcard ../shared/datasets/kodak)
ifneq ($(SHARED_DATA),)
export BENCH_DATA ?= $(abspath ../shared/datasets)
endif

# The lock files are resolved for Linux x86_64 and CPython 3.11: the machines CI and the README's numbers
# run on. Elsewhere the install takes pyproject.toml's ranges (newest versions) and says so.
LOCKED_PLATFORM := import platform, sys; sys.exit(not (sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)))
# `make lock` resolves with this uv (https://docs.astral.sh/uv/), in its own environment .venv-lock.
UV_VERSION := 0.13.9
LOCK_ARGS  := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --upgrade \
              --custom-compile-command "make lock" --quiet

.PHONY: run test test-fast test-latest lock clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# $(1): lock file, $(2): extras for the unlocked fallback
define install
	@if $(BIN)/python -c '$(LOCKED_PLATFORM)'; then \
	    set -x; \
	    $(BIN)/pip install --require-hashes --no-deps -r $(1) && \
	    $(BIN)/pip install --no-deps --no-build-isolation -e . && \
	    $(BIN)/pip check; \
	else \
	    echo "warning: $(1) is for Linux x86_64 with CPython 3.11; installing the newest versions pyproject.toml allows" >&2; \
	    set -x; \
	    $(BIN)/pip install -e '.$(2)'; \
	fi
endef

$(VENV)/.run-deps: requirements/run.txt pyproject.toml | $(BIN)/python
	$(call install,requirements/run.txt,)
	touch $@

$(VENV)/.test-deps: requirements/test.txt pyproject.toml | $(BIN)/python
	$(call install,requirements/test.txt,[test,metrics,ray,docs])
	touch $@ $(VENV)/.run-deps

## Benchmark every available codec (traditional and the shipped learned one) on Kodak (results in results/kodak/).
run: $(VENV)/.run-deps
	$(BIN)/bench run --dataset kodak

## The whole test suite, including the real end-to-end runs on Kodak.
test: $(VENV)/.test-deps
	$(BIN)/python -m pytest --durations=40

## The documentation site (docs/), into docs/_build/html; warnings are errors.
docs: $(VENV)/.test-deps
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

## The test suite without the slow Kodak runs.
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest -m "not slow"

## The test suite in a fresh .venv-latest with the newest versions pyproject.toml allows (no lock): run it
## before `make lock`; it first lists the packages whose versions differ from requirements/test.txt.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --upgrade pip
	.venv-latest/bin/pip install -e '.[test,metrics,ray,docs]'
	.venv-latest/bin/python -m bench.store.provenance requirements/test.txt
	.venv-latest/bin/python -m pytest --durations=40

## Resolve requirements/test.txt (every extra) and requirements/run.txt (the same versions, runtime only)
## again from pyproject.toml and requirements/constraints.txt, newest versions first.
lock:
	test -x .venv-lock/bin/uv || { $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install uv==$(UV_VERSION); }
	.venv-lock/bin/uv pip compile pyproject.toml --extra test --extra metrics --extra ray --extra docs \
	    -c requirements/constraints.txt $(LOCK_ARGS) -o requirements/test.txt
	.venv-lock/bin/uv pip compile pyproject.toml -c requirements/test.txt $(LOCK_ARGS) -o requirements/run.txt

clean:
	rm -rf $(VENV) .venv-latest .venv-lock build dist *.egg-info .pytest_cache docs/_build docs/generated
