# RealDID developer entry points. `make run` and `make test` bootstrap everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= data/node
HOST ?= 127.0.0.1
PORT ?= 8080
AUTHORITY_PORT ?= 8081
DEMO_PORT ?= 8090
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint format bench clean venv

# -- PostgreSQL (issue 11): the server binaries the tests start a private server from --
POSTGRES := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) /usr/lib/postgresql/initdb)
/usr/lib/postgresql/initdb:
	@echo "installing PostgreSQL for the database tests (Debian package)"
	$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql
	@test -n "$$(ls /usr/lib/postgresql/*/bin/initdb)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@echo "RealDID registry node (embedded SQLite + solo ledger) and identity authority"
	@echo "  resolver & API : http://$(HOST):$(PORT)/1.0/identifiers/{did}"
	@echo "  API reference  : http://$(HOST):$(PORT)/docs"
	@echo "  ledger explorer: http://$(HOST):$(PORT)/explorer"
	@echo "  health, metrics: http://$(HOST):$(PORT)/healthz  http://$(HOST):$(PORT)/metrics"
	@echo "  data directory : $(DATA_DIR) (authority: $(DATA_DIR)/authority)"
	@echo "  authority      : http://$(HOST):$(AUTHORITY_PORT)/.well-known/openid-credential-issuer"
	@echo "  authority API  : http://$(HOST):$(AUTHORITY_PORT)/docs  (face matching is SIMULATED)"
	@echo "  demo forum     : http://$(HOST):$(DEMO_PORT)/  (pseudonymous, verified adults)"
	@echo "  demo OIDC site : http://$(HOST):$$(($(DEMO_PORT) + 1))/  (plain OpenID Connect via the bridge)"
	@echo "  demo hotel     : http://$(HOST):$$(($(DEMO_PORT) + 2))/  (real-name check-in)"
	@echo "  OIDC bridge    : http://$(HOST):$$(($(DEMO_PORT) + 3))/.well-known/openid-configuration"
	@echo "In a second terminal: source $(BIN)/activate && realdid --help (see README walk-through)"
	$(BIN)/realdid serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT) --authority-port $(AUTHORITY_PORT) --demo-port $(DEMO_PORT)

# The storage tests start a private PostgreSQL server from Debian's postgresql package.
# The whole suite runs on SQLite; a second pass runs the integration and end-to-end suites
# with every service on PostgreSQL (tests/service_databases.py).
test: $(STAMP) node_modules/.stamp $(CHROMIUM) $(POSTGRES)
	$(BIN)/python -m pytest -q
	REALDID_TEST_ENGINE=postgresql $(BIN)/python -m pytest -q tests/integration tests/e2e

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

# bench/bench_http.py loads the servers with wrk (a C load generator: the client must not
# bound what is measured).
/usr/bin/wrk:
	$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk

bench: $(STAMP) node_modules/.stamp /usr/bin/wrk
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_node.py
	$(BIN)/python bench/bench_evm.py
	$(BIN)/python bench/bench_enroll.py --http
	$(BIN)/python bench/bench_login.py
	$(BIN)/python bench/bench_login_http.py
	$(BIN)/python bench/bench_ijson.py
	$(BIN)/python bench/bench_rebuild.py --data-dir bench-data/resolution --anchors 20

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# -- Browser tests (issue 5): Playwright drives Debian's Chromium; no browser download --
$(CHROMIUM):
	@echo "installing Chromium for the browser tests (Debian package)"
	$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium

# -- EVM tooling (issue 3): solc-js compiles the anchor contract, anvil is the local chain --
ANVIL := node_modules/.bin/anvil

.PHONY: contracts

node_modules/.stamp: package.json package-lock.json
	@command -v npm >/dev/null || { echo "installing Node.js and npm (Debian packages)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund && touch $@

contracts: node_modules/.stamp
	node scripts/build_contracts.mjs
