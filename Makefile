# contactcore: two commands do everything on a fresh Debian/Ubuntu machine (as root):
#   make run    the platform with demo data, in the foreground (Ctrl-C or `make stop` ends it)
#   make test   the whole suite: lint, types, layering, unit, integration, e2e, browser, bench smoke
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CC := $(BIN)/contactcore
PYTEST_ARGS ?=

.PHONY: run stop test system venv lint unit integration e2e sandbox-up sandbox-down clean

system:
	@scripts/ensure-system.sh

$(BIN)/activate: pyproject.toml
	@echo "make: creating virtualenv in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q -e '.[dev]'
	@touch $(BIN)/activate

venv: $(BIN)/activate

run: system venv
	@mkdir -p var/log
	@$(CC) db upgrade
	@$(CC) demo seed
	@$(CC) flows prompts
	@$(CC) sandbox up
	@echo "make: contactcore on http://127.0.0.1:8080, SIP on udp 127.0.0.1:5060 (dial 100). Ctrl-C or 'make stop' to end."
	@trap '$(CC) sandbox down' EXIT; $(CC) serve --pid-file var/contactcore.pid

stop:
	@if [ -f var/contactcore.pid ]; then kill -TERM $$(cat var/contactcore.pid) 2>/dev/null || true; fi
	@$(CC) sandbox down

lint: venv
	@echo "make: ruff"; $(BIN)/ruff check src tests bench
	@$(BIN)/ruff format --check src tests bench
	@echo "make: mypy"; $(BIN)/mypy
	@echo "make: import-linter"; $(BIN)/lint-imports

test: system venv lint
	@$(CC) flows prompts
	@$(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	@$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: system venv
	@$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: system venv
	@$(CC) flows prompts
	@$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
