SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format services check messages screenshots chaos bench bench-quick

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
	bash scripts/ensure-gettext.sh
	bash scripts/ensure-docker-compose.sh
	bash scripts/ensure-chaos.sh
	bash scripts/ensure-xmlsec1.sh

## make messages: regenerate the English catalogues from the Swedish source strings and compile them.
## New strings arrive untranslated (no fuzzy guesses); translate them in the .po files, then run it again.
MAKEMESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=var --ignore=staticfiles --ignore=docs --ignore=scripts
messages: install
	bash scripts/ensure-gettext.sh
	DEBUG=true $(BIN)/python manage.py makemessages -l en --no-wrap --add-location=file --no-obsolete $(MAKEMESSAGES_IGNORE)
	DEBUG=true $(BIN)/python manage.py compilemessages -l en $(MAKEMESSAGES_IGNORE)

## make screenshots: the README's pictures, from the running app (scripts/screenshots.py, docs/screenshots/).
screenshots: install
	bash scripts/ensure-chromium.sh
	$(BIN)/python scripts/screenshots.py

## make chaos: break the real stack on purpose (private PostgreSQL and Redis), print lost/duplicates per
## scenario, write var/chaos/latest.json and the table into docs/RELIABILITY.md. About 10 minutes.
chaos: install
	bash scripts/ensure-chaos.sh
	bash scripts/ensure-xmlsec1.sh
	$(BIN)/python -m chaos --doc docs/RELIABILITY.md $(CHAOS_ARGS)

## make bench: the full benchmark (< 15 min); make bench-quick: the quick sizes (< 2 min). Both start their
## own database, private Redis and processes, and write var/bench/latest.json (docs/PERFORMANCE.md).
bench: install
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench.run --size full

bench-quick: install
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench.run --size quick
