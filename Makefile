# Every target creates/refreshes the virtual environment first, so each works from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.rostering
UI_PORT ?= 3000
export ROSTERING_DATA_DIR := $(abspath $(DATA_DIR))

.PHONY: install demo ui test lint bench bench-scale bench-memory bench-fleet clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m rostering_pipeline.demo

# The demo's instance and data (runs read the demo's key file when ROSTERING_SECRET_KEYS is unset).
# Started from the instance's folder: the repo's dagster.yaml (production) is not this instance's.
# `dg dev` works too (README, The UI) but only from the repo's folder, where Dagster then warns
# about that dagster.yaml; its hint to use `dg dev` is silenced here for the same reason.
ui: install
	@export DAGSTER_HOME="$${DAGSTER_HOME:-$(ROSTERING_DATA_DIR)/dagster_home}" ; \
	$(BIN)/python -c "from rostering_pipeline.runner import instance; instance()" && \
	echo "Dagster UI on http://127.0.0.1:$(UI_PORT) (instance $$DAGSTER_HOME)" && \
	cd "$$DAGSTER_HOME" && \
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
	exec $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

test: install
	$(BIN)/pytest -n 2 --dist loadgroup --durations=25

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.run

# What grows with a fleet: the dispatcher's and sensors' ticks at 200 and 2,000 districts, and
# the webhook receiver under load (about 5 minutes; benchmarks/FLEET.md).
bench-scale: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.registry_scale --out benchmarks/FLEET.md
	$(BIN)/python -m benchmarks.webhook_load --out benchmarks/FLEET.md

# The sync's resident memory by step, first sync and no-change re-sync of a 200,000-student
# district (about 3 minutes; a section of benchmarks/MEMORY.md per commit).
bench-memory: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.step_memory --out benchmarks/MEMORY.md

# 200 districts due at once through the real daemon: makespan beside the ideal, exactly-once,
# the limits, PostgreSQL connections, tick durations (also with the run queue held); then the
# same fleet with faults (about 55 minutes in all; benchmarks/FLEET.md).
bench-fleet: install
	$(BIN)/python -m benchmarks.fleet --out benchmarks/FLEET.md
	$(BIN)/python -m benchmarks.fleet --faults --out benchmarks/FLEET.md

clean:
	rm -rf $(VENV) .rostering .pytest_cache .ruff_cache
