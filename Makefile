# NeverMiss: `make dev` runs the whole local stack; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install dev test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

dev: install
	$(BIN)/python -m devhost serve

test: install
	./scripts/install-test-packages.sh
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.webhook_ack
	$(BIN)/python -m bench.text_back
	$(BIN)/python -m bench.sms_pipeline
	$(BIN)/python -m bench.usage_ingest
	$(BIN)/python -m bench.streaks
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.intake_accuracy
	$(BIN)/python -m bench.capacity

clean:
	rm -rf $(VENV) node_modules .data
