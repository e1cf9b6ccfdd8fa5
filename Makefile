# Every target creates/refreshes the virtual environment first, so each works from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.rostering
export ROSTERING_DATA_DIR := $(abspath $(DATA_DIR))

.PHONY: install demo ui test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m rostering_pipeline.demo

ui: install
	DAGSTER_HOME=$${DAGSTER_HOME:-$(ROSTERING_DATA_DIR)/dagster_home} ; \
	mkdir -p $$DAGSTER_HOME ; \
	DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/dagster dev -m rostering_pipeline.definitions -h 127.0.0.1 -p 3000

test: install
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .rostering .pytest_cache .ruff_cache
