# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install servers demo test dev

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/python -m comms_assets.demo

test: install servers
	$(BIN)/python -m pytest

# The production-profile tests need PostgreSQL and Redis: the test session starts its own on
# 127.0.0.1 from Debian's packages (installed here when missing, as root), unless
# TEST_POSTGRES_URL and TEST_REDIS_URL point at servers of your own.
servers:
	@if [ -n "$$TEST_POSTGRES_URL" ] && [ -n "$$TEST_REDIS_URL" ]; then exit 0; fi; \
	if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs PostgreSQL and Redis: sudo apt-get install postgresql redis-server" \
	       "(or set TEST_POSTGRES_URL and TEST_REDIS_URL)"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null

dev: install
	mkdir -p .dagster_home && cp -n dagster.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster instance concurrency set comms_warehouse 1
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev
