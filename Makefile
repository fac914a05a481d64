# Studioflow. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
export PIP_DISABLE_PIP_VERSION_CHECK := 1

LOWEST := .venv-lowest
# What the lowest versions allowed by pyproject.toml must pass (.ci/run runs it after `test`).
SMOKE := tests/platform tests/identity tests/billing tests/media/test_endpoints.py \
	tests/studio/test_workflows.py tests/studio/test_executions.py tests/test_http.py \
	tests/test_tenancy.py tests/test_cli.py tests/test_serve.py

.PHONY: run test test-lowest lint format bench e2e clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependencies change. `run` needs only the app, `test` the test extras.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/studioflow serve --demo

# One worker per core (pytest-xdist); every worker gets its own databases and buckets.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadgroup

# The lowest direct dependencies pyproject.toml allows (uv's lowest-direct resolution), in a
# venv of their own: every lower bound there is a version this has run.
test-lowest: $(STAMP)
	$(BIN)/python -m pip install --quiet "uv==0.13.9"
	$(BIN)/uv venv --quiet --allow-existing --python $(BIN)/python $(LOWEST)
	VIRTUAL_ENV=$(LOWEST) $(BIN)/uv pip install --quiet --resolution lowest-direct -e '.[test]'
	$(LOWEST)/bin/python -m pytest -n auto -p no:cacheprovider $(SMOKE)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench migrations
	$(BIN)/ruff check --fix src tests bench migrations

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BENCH_STAMP) $(STAMP) $(RUN_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache build dist
