# Two entry points that work on a fresh machine: `make example` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH_CPU ?= torch==2.13.0

.PHONY: example test setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "$(TORCH_CPU)"
	$(BIN)/python -m pip install --quiet -e ".[test,verify]"
	touch $@

setup: $(VENV)/.installed

# Lint the bundled example project, then show the fixes as a diff (nothing is written).
example: $(VENV)/.installed
	cd examples && ../$(BIN)/repro-lint check . --exit-zero --statistics
	cd examples && ../$(BIN)/repro-lint check . --diff || [ $$? -eq 1 ]

test: $(VENV)/.installed-test
	$(BIN)/ruff check repro_lint rules
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --durations=15
