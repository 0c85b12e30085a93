# Resee: the two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

# Local development defaults; production sets these in its environment.
export DEBUG ?= 1
HOST ?= 127.0.0.1
PORT ?= 8000
export PYTHONUNBUFFERED := 1

.PHONY: help install run serve worker migrate setup test test-system lint bench fuzz clean client

help:
	@echo "make run      install, migrate, seed the demo account, serve the API on 127.0.0.1:8000 (HOST, PORT) with a worker"
	@echo "make test     install and run the whole suite (ruff, lint-imports, migrations check, pytest)"
	@echo "make bench    load benchmarks on PostgreSQL + Redis with the production server; recall quality"
	@echo "make worker   run the Django-Q2 worker alone;  make migrate   apply migrations"
	@echo "make client   regenerate the TypeScript client's types (clients/typescript) from the API schema"

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# Development settings for hand-run manage.py (createsuperuser, changepassword, set_tier, ...): a
# DEBUG=1 and a SECRET_KEY generated once; manage.py reads it, production never does (docs in README).
.env:
	@printf '# Development only (written by make; manage.py reads it unless DEBUG=0 is set).\nDEBUG=1\nSECRET_KEY=%s\n' \
	  "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "wrote .env (DEBUG=1 and a generated SECRET_KEY) for hand-run manage.py commands"

setup: migrate .env
	$(PY) manage.py setup_schedules
	$(PY) manage.py seed_demo

# The API (runserver on $(HOST):$(PORT)) and a qcluster worker side by side, supervised by
# scripts/devserver.py: one Ctrl-C stops both (they get 20 s, then are killed; a second Ctrl-C kills now).
# Only this machine can reach it unless told otherwise: make run HOST=0.0.0.0 PORT=8080
run: setup
	@echo "Serving http://$(HOST):$(PORT)/api/docs  (Ctrl-C stops the API and the worker)"
	@exec $(PY) scripts/devserver.py --host $(HOST) --port $(PORT)

worker: install
	$(PY) manage.py qcluster

# The suite runs against the environment's PostgreSQL and Redis (DATABASE_URL, REDIS_URL; defaults:
# the local servers on 127.0.0.1). DEBUG stays off under test, as in production.
test: install
	@bash scripts/ensure_browser.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=0 $(PY) -m pytest --ignore=tests/system --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)
	@echo "the suite again with the compiled-query shortcut off (modules/common/compiled.py): the ORM path"
	COMPILED_QUERIES=0 DEBUG=0 $(PY) -m pytest --ignore=tests/system -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-system

# The system tier (tests/system/): the deployed topology as real processes (gunicorn, qcluster,
# PostgreSQL, Redis, private servers for faults), stacks side by side; about 3 minutes.
SYSTEM_WORKERS ?= 5
test-system: install
	DEBUG=0 $(PY) -m pytest tests/system -n $(SYSTEM_WORKERS) --dist load $(PYTEST_ARGS)

# The typed TypeScript client (clients/typescript/README.md): its types regenerated from the schema
# manage.py dumps (no server needed), then type-checked. Commit src/schema.d.ts with the API change:
# the system tier fails while it differs from what the live server's schema generates.
CLIENT := clients/typescript
client: install
	@bash $(CLIENT)/scripts/install.sh
	@mkdir -p var
	$(PY) manage.py export_openapi_schema --api config.api.api --output var/openapi.json
	cd $(CLIENT) && node scripts/generate.mjs ../../var/openapi.json && node_modules/.bin/tsc --noEmit

# Load benchmarks on PostgreSQL + Redis with gunicorn and wrk (docs/benchmarks.md); a dedicated
# database (BENCH_DB, default resee_bench) is recreated and seeded each run.
BENCH_INSIGHTS_URL ?= postgres://postgres@127.0.0.1:5432/resee_bench_insights
bench: install
	bash bench/run.sh
	$(PY) bench/prepare_db.py $(BENCH_INSIGHTS_URL) --if-missing
	DATABASE_URL=$(BENCH_INSIGHTS_URL) REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0} \
	  $(PY) bench/insights_dashboard.py
	# recall quality of every scheduler on the shared review log (srs-benchmark protocol, docs/scheduling.md)
	$(PY) bench/recall_eval.py --json bench/results/recall_eval.json

# The canary (tests/test_import_contracts.py, marker canary) proves the import contracts catch a
# planted violation; it copies the tree and starts lint-imports, so the default test run leaves it out.
# Schema-conformance fuzzing of the live API (schemathesis), as a FREE learner and a PRO admin (docs/api.md).
fuzz: install
	bash scripts/schema_fuzz.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	DEBUG=0 $(PY) -m pytest -m canary tests/test_import_contracts.py -q

clean:
	rm -rf $(VENV) var db.sqlite3 .coverage
