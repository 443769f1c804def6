# RealDID developer entry points. `make run` and `make test` bootstrap everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= data/node
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint format bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@echo "RealDID registry node (embedded SQLite + solo ledger)"
	@echo "  resolver & API : http://$(HOST):$(PORT)/1.0/identifiers/{did}"
	@echo "  API reference  : http://$(HOST):$(PORT)/docs"
	@echo "  health, metrics: http://$(HOST):$(PORT)/healthz  http://$(HOST):$(PORT)/metrics"
	@echo "  data directory : $(DATA_DIR)"
	@echo "In a second terminal: source $(BIN)/activate && realdid --help (see README walk-through)"
	$(BIN)/realdid serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_node.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
