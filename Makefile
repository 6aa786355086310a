# Two commands on a fresh machine: `make run` (the service on http://127.0.0.1:3000 over an
# embedded AWS emulator) and `make test` (lint, types, every test). Both build what they need.

PYTHON ?= python3
VENV := .venv
EMULATOR_VENV := .venv-emulator
PY := $(VENV)/bin/python
PYTHONPATH := .:layers/store_credit
export PYTHONPATH

.PHONY: run test lint unit bench soak openapi schemas currencies emulator clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade "pip>=25.1"
	$(VENV)/bin/pip install --quiet --group dev
	touch $@

# MiniStack pins its own botocore, so it lives in a virtualenv of its own and runs as a process.
$(EMULATOR_VENV)/.installed:
	$(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/pip install --quiet "ministack==1.5.33"
	touch $@

emulator: $(EMULATOR_VENV)/.installed

run: $(VENV)/.installed emulator
	$(PY) -m tests.harness.local_stack

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(VENV)/.installed emulator lint
	$(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

# Figures, not assertions: DynamoDB round trips, capacity units and latency per operation.
bench: $(VENV)/.installed emulator
	$(PY) -m tests.bench.operations
	$(PY) -m tests.bench.cold_start
	$(PY) -m tests.bench.jobs
	$(PY) -m tests.bench.imports

# Hours, not part of make test: thousands of random operation sequences against the model,
# and 10,000 mixed concurrent operations on hot wallets over MiniStack.
soak: $(VENV)/.installed emulator
	SOAK_EXAMPLES=$${SOAK_EXAMPLES:-5000} SOAK_STEPS=$${SOAK_STEPS:-40} $(PY) -m pytest tests/property -q
	SOAK_OPERATIONS=$${SOAK_OPERATIONS:-10000} $(PY) -m pytest tests/emulator/test_soak.py -q

openapi: $(VENV)/.installed
	$(PY) -m tests.harness.openapi

schemas: $(VENV)/.installed
	$(PY) -m tests.harness.event_schemas

currencies: $(VENV)/.installed
	$(PY) tests/harness/generate_currencies.py

clean:
	rm -rf $(VENV) $(EMULATOR_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam
