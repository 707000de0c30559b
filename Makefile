# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install demo test test-long lint typecheck tools pytest ui clean bench bench-shop bytecode

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "pm-pipeline needs Python 3.11, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q pm_pipeline pm_pipeline_bench
	@touch $(STAMP)

# The package's bytecode, written ahead: an editable install leaves none, and under
# PYTHONDONTWRITEBYTECODE every command would compile each module it imports again (0.25 s a check).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q pm_pipeline pm_pipeline_bench

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) bytecode $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pm-pipeline demo

lint: $(STAMP)
	$(BIN)/ruff check pm_pipeline pm_pipeline_bench pm_pipeline_tests
	$(BIN)/ruff format --check pm_pipeline pm_pipeline_bench pm_pipeline_tests

typecheck: $(STAMP)
	$(BIN)/mypy pm_pipeline pm_pipeline_bench

# The few tests marked long (over 20 s each: a served UI's rollback, a killed restore, a backfill on
# PostgreSQL storage, ...) run in make test-long; CI runs both.
pytest: $(STAMP) bytecode
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadscope -m "not long"
	@echo "left out, marked long: $$($(BIN)/pytest -q -p no:cacheprovider --collect-only -m long | tail -n 1); make test-long runs them (CI too, when its time budget allows)"

test-long: $(STAMP) bytecode
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadscope -m long

test: lint typecheck tools pytest

# The report-rendering tests need Debian's chromium and poppler-utils (without them they skip), the
# tests of proven index advice PostgreSQL's HypoPG extension (without it they fail); .ci/run
# installs all three.
tools:
	@command -v chromium >/dev/null || echo "note: chromium is missing: the browser and HTML-rendering tests will skip (apt-get install chromium)"
	@command -v pdftoppm >/dev/null || echo "note: pdftoppm is missing: the PDF-rendering tests will skip (apt-get install poppler-utils)"
	@ls /usr/share/postgresql/*/extension/hypopg.control >/dev/null 2>&1 || echo "note: HypoPG is missing: the tests of proven index advice will fail (apt-get install postgresql-15-hypopg)"

# The Dagster UI on PORT (default 3000); Ctrl-C or SIGTERM stops the server and its daemon.
PORT ?= 3000
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pm_pipeline.devserver --port $(PORT) --workspace workspace.yaml

# The reconciliation benchmark (docs/benchmarks.md); e.g. BENCH_ARGS="--rows 10000000".
bench: $(STAMP) bytecode
	$(BIN)/python -m pm_pipeline_bench $(BENCH_ARGS)

# A correct migration of a six-table shop (300,000 rows): the default check beside --no-integrity,
# and a failure if either finds anything; e.g. SHOP_ARGS="--rows 3000000 --pairs mariadb-pg".
bench-shop: $(STAMP) bytecode
	$(BIN)/python -m pm_pipeline_bench.shop $(SHOP_ARGS)

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .mypy_cache .ruff_cache
