# Two entry points: `make demo` runs the baseline scenario, `make test` runs the suite.
# Both create .venv and install gridfed and its dependencies from the package registry.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/gridfed run scenarios/baseline_ieee123.yaml

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

# mutation score of the core pure models (not in CI's budget: tens of minutes)
mutation: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/mutation.py

clean:
	rm -rf $(VENV) results build *.egg-info
