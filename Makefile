# SmartPay. `make run` serves the embedded default; `make test` runs every check CI runs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The embedded default's local chain: anvil from npm, unless CHAIN_RPC_URL names a node.
ANVIL := node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
ANVIL_PORT ?= 8545
# anvil's well-known development accounts (its public test mnemonic): the platform
# (arbiter) key is account 3, the treasury account 4. Local chain only, never real money.
DEV_CHAIN_ENV := CHAIN_RPC_URL=http://127.0.0.1:$(ANVIL_PORT) CHAIN_ID=31337 \
	CHAIN_CONFIRMATIONS=2 CHAIN_USE_FINALIZED=false \
	CHAIN_ARBITER_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6 \
	CHAIN_TREASURY_ADDRESS=0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65
SERVE_ENV = SITE_URL=http://$(HOST):$(PORT) SMARTPAY_HOST=$(HOST) SMARTPAY_PORT=$(PORT)

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

# A terminal reads plain lines better than JSON (production logs JSON by default).
run: export LOG_FORMAT ?= plain
run: deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py beat_schedule
	$(PY) manage.py seed_demo --if-empty
	@echo
	@echo "  SmartPay is starting at http://$(HOST):$(PORT)/   (Ctrl-C stops everything)"
	@echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs/   admin: http://$(HOST):$(PORT)/admin/"
	@echo "  Demo logins are listed above."
	@if [ -n "$$CHAIN_RPC_URL" ]; then \
		echo "  Chain rail: your node at $$CHAIN_RPC_URL (no local anvil)."; echo; \
		exec env $(SERVE_ENV) $(VENV)/bin/honcho start -f Procfile web worker; \
	elif [ -x $(ANVIL) ]; then \
		echo "  Chain rail: local anvil at http://127.0.0.1:$(ANVIL_PORT) (chain 31337; dev keys, see README)."; echo; \
		exec env $(DEV_CHAIN_ENV) $(SERVE_ENV) $(VENV)/bin/honcho start -f Procfile; \
	else \
		echo "  warning: $(ANVIL) is missing, so there is no local chain; the card rail runs." >&2; echo; \
		exec env $(SERVE_ENV) $(VENV)/bin/honcho start -f Procfile web worker; \
	fi

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
