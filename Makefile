# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install servers demo test dev ui lock check

# The dbt project's manifest, which the definitions read (they prepare nothing as they load), and
# the package's bytecode, so that loading them writes no file either.
DBT = comms_assets/dbt_project
MANIFEST = $(DBT)/target/manifest.json

install: $(VENV)/.installed $(MANIFEST)
	@$(BIN)/python -m compileall -q comms_assets

$(MANIFEST): $(VENV)/.installed $(DBT)/dbt_project.yml $(DBT)/profiles.yml \
		$(shell find $(DBT)/models $(DBT)/macros $(DBT)/tests -type f)
	$(BIN)/python -m comms_assets.engine.layer

# Exactly the versions the tests passed with (requirements.lock), then the project itself.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Upgrade every locked version within pyproject.toml's ranges, install them and run the tests.
lock: install
	$(BIN)/python scripts/lock.py --upgrade
	$(MAKE) test

# What CI checks besides the tests: the lock, the installed versions, lint, `dg check defs`.
check: install
	$(BIN)/python scripts/lock.py
	$(BIN)/ruff check comms_assets comms_assets_tests benchmarks scripts
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs

demo: install
	$(BIN)/python -m comms_assets.demo

test: install servers
	$(BIN)/python -m pytest

# The production-profile tests need PostgreSQL and Redis, the browser test Chromium: the test session
# starts its own servers on 127.0.0.1 from Debian's packages (installed here when missing, as root),
# unless TEST_POSTGRES_URL and TEST_REDIS_URL point at servers of your own. Chromium is Debian's
# (/usr/bin/chromium, kept current by Debian's security updates); Playwright drives it and never
# downloads a browser of its own.
servers:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null \
	  && command -v openssl >/dev/null && [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ -n "$$TEST_POSTGRES_URL" ] && [ -n "$$TEST_REDIS_URL" ] && [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs PostgreSQL, Redis, openssl and Chromium:" \
	       "sudo apt-get install postgresql redis-server openssl chromium" \
	       "(or set TEST_POSTGRES_URL and TEST_REDIS_URL for servers of your own)"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server openssl \
	  chromium >/dev/null

# The UI on the sandbox (offline, like the demo), or on the real APIs with your credentials set.
dev: install
	$(BIN)/python -m comms_assets.dev

ui: install
	$(BIN)/python -m comms_assets.dev --real-apis
