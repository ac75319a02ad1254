# kestrad — developer entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serves examples/flows on SQLite (.kestrad/kestrad.db), API on 127.0.0.1:8080; Ctrl-C stops.
run: $(STAMP)
	@echo "kestrad: in another shell, export KESTRAD_CONFIG=$(CURDIR)/examples/kestrad.yml (then kestrad logs -f, kestrad executions list, ...)"
	$(BIN)/kestrad serve --config examples/kestrad.yml

test: $(STAMP) lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check kestrad tests bench
	$(BIN)/ruff format --check kestrad tests bench
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format kestrad tests bench
	$(BIN)/ruff check --fix kestrad tests bench

bench: $(STAMP)
	$(BIN)/python bench/foreach.py
	$(BIN)/python bench/flowable.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
