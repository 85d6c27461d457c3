# SmartPay. `make run` serves the embedded default; `make test` runs every check CI runs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest bench deps format clean contracts

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/htmx.min.js: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

deps: $(VENV)/.installed static/vendor/htmx.min.js

run: deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py escrow_schedule
	$(PY) manage.py seed_demo --if-empty
	@echo
	@echo "  SmartPay is starting at http://$(HOST):$(PORT)/   (Ctrl-C stops everything)"
	@echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs/   admin: http://$(HOST):$(PORT)/admin/"
	@echo "  Demo logins are listed above."
	@echo
	SITE_URL=http://$(HOST):$(PORT) SMARTPAY_HOST=$(HOST) SMARTPAY_PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: deps
	$(VENV)/bin/mypy .

pytest: deps
	$(VENV)/bin/pytest

test: lint typecheck pytest

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: deps
	$(PY) bench/run.py

# Recompile the Solidity contracts (pinned npm solc) and check the committed artefacts match.
contracts: deps node_modules/.installed
	node escrow/chain/compile.js
	$(PY) -m escrow.chain.build

clean:
	rm -rf $(VENV) node_modules static/vendor data
