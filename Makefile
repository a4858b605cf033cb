# Two entry points for a fresh machine:  `make run`  and  `make test`.
# Each creates the virtual environment .venv on first use (Python >= 3.10 and pip needed).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Beside a checkout that has ../shared/datasets (our CI and dev machines), use the local Kodak copy;
# anywhere else `bench` downloads Kodak into ~/.cache/codec-bench/datasets on first use.
SHARED_DATA := $(wildcard ../shared/datasets/kodak)
ifneq ($(SHARED_DATA),)
export BENCH_DATA ?= $(abspath ../shared/datasets)
endif

.PHONY: run test test-fast clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@ $(VENV)/.run-deps

## Benchmark every available codec (traditional and the shipped learned one) on Kodak (results in results/kodak/).
run: $(VENV)/.run-deps
	$(BIN)/bench run --dataset kodak

## The whole test suite, including the real end-to-end runs on Kodak.
test: $(VENV)/.test-deps
	$(BIN)/python -m pytest --durations=40

## The test suite without the slow Kodak runs.
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
