SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format services check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the web app on http://127.0.0.1:8000 with every background process, on embedded defaults.
run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py seed_demo
	DEBUG=true PATH=$(BIN):$$PATH $(BIN)/honcho start -f Procfile

## make test: install, make sure PostgreSQL and Redis answer, lint, run the whole suite.
test: install services lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh

## make bench: the full benchmark (< 15 min); make bench-quick: the quick sizes (< 2 min). Both start their
## own database, private Redis and processes, and write var/bench/latest.json (docs/PERFORMANCE.md).
.PHONY: bench bench-quick
bench: install
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench.run --size full

bench-quick: install
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench.run --size quick
