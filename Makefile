SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lock run test lint format services check messages screenshots chaos bench bench-quick bench-scale restore-drill

## The lock files (uv pip compile --generate-hashes; docs/OPERATIONS.md says why uv): requirements/base.txt is
## what production runs (the Dockerfile), requirements/dev.txt adds the development and test tools, pinned to
## the same versions. `make install` installs exactly those, every file checked against its hash, then the
## project itself without dependencies; tests/ops/test_lock.py fails when pyproject.toml and the locks disagree.
LOCKS := requirements/base.txt requirements/dev.txt
PIP := $(BIN)/pip --disable-pip-version-check
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 --quiet

$(STAMP): pyproject.toml $(LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements/dev.txt
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## make lock: bring the lock files in line with pyproject.toml (keeps every pin it can; UPGRADE=1 renews them
## all). Seconds, not minutes: uv resolves against PyPI without building anything.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(PIP) install --quiet 'uv>=0.5'
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) -o requirements/base.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) --extra dev -c requirements/base.txt -o requirements/dev.txt

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
	bash scripts/ensure-promtool.sh
	bash scripts/ensure-nginx.sh
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

## make restore-drill: pg_dump -Fc of DATABASE_URL's database, restored into a fresh database, checked there
## (verify_audit_log, verify_evidence when installed, the signed content's hashes), then dropped
## (scripts/restore_drill.py, docs/OPERATIONS.md). RESTORE_DRILL_CHECKS names the check commands.
restore-drill: install
	bash scripts/ensure-services.sh
	$(BIN)/python scripts/restore_drill.py

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

## make bench-scale: a synthetic bank (100,000 users in 20,000 companies, 90 days, > 10 million deliveries)
## COPYed into a database of its own (bevaka_scale_<pid>, dropped at the end), then the pages, the admin,
## the relays, a fan-out, many events, VACUUM and retention measured on it; var/bench/scale.json
## (bench/scale.py, docs/PERFORMANCE.md "At bank scale"). About 30 minutes; SCALE_ARGS="--size quick" in seconds.
bench-scale: install
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench.scale $(SCALE_ARGS)
