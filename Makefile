# qgap: the README's commands. Everything installs into .venv from requirements.lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test ui install bench validate clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## One full autonomy cycle on the embedded default (synthetic bars, SQLite, local Dagster).
run: $(STAMP)
	$(BIN)/qgap cycle

## The whole test suite (SQLite and PostgreSQL).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

## Dagster UI on 127.0.0.1:3000 with the runs of `make run`.
ui: $(STAMP)
	$(BIN)/python -c "from qgap_assets.cli import prepare_dagster_home; prepare_dagster_home()"
	DAGSTER_HOME=$(abspath .qgap/dagster) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

validate: $(STAMP)
	$(BIN)/dagster definitions validate -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf .qgap
