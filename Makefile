# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test ui sandbox lint benchmark

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/amazon-assets demo

test: $(INSTALLED)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

ui: $(INSTALLED)
	$(BIN)/amazon-assets ui

sandbox: $(INSTALLED)
	$(BIN)/amazon-assets sandbox

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/business_reports_backfill.py
