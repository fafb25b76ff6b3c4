# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo test ci dev

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/python -m comms_assets.demo

test: install
	$(BIN)/python -m pytest

dev: install
	mkdir -p .dagster_home && cp -n dagster.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster instance concurrency set comms_warehouse 1
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev
