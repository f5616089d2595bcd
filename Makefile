# Two commands on a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DOMAIN := messages

.PHONY: run test test-fast setup catalogs messages lint format clean bench

run: setup
	$(BIN)/survey migrate
	$(BIN)/survey demo
	$(BIN)/survey serve --host 127.0.0.1 --port 8000

test: setup $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

# The inner loop: lint and every test but the slow tier (server processes, Chromium).
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not slow" -q

setup: $(STAMP) catalogs

# Benchmarks against the real server (wrk): prints a table, writes benchmarks/results/latest.json.
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--engines sqlite --duration 5".
bench: setup
	command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Test-only JavaScript (axe-core for the accessibility tests), pinned by package-lock.json.
$(NODE_STAMP): package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the accessibility tests will be skipped (apt-get install npm)"; \
	fi

# Compiled catalogs (.mo) are build output, rebuilt from the .po sources.
catalogs: $(STAMP)
	$(BIN)/pybabel compile --domain $(DOMAIN) --directory locales --statistics

# For developers: extract new strings and merge them into every catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract --mapping-file babel.cfg --output-file locales/$(DOMAIN).pot \
		--sort-by-file --no-wrap --project citizen-survey --keywords N_ .
	$(BIN)/pybabel update --input-file locales/$(DOMAIN).pot --domain $(DOMAIN) \
		--output-dir locales --no-wrap --no-fuzzy-matching --ignore-obsolete

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache node_modules
	find locales -name '*.mo' -delete
