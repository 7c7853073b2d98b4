# Two entry points: `make demo` runs the baseline scenario, `make test` runs the suite.
# Both create .venv and install gridfed and its dependencies from the package registry, at
# the versions pinned in constraints.txt (`make lock` refreshes the pins from a fresh venv).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
LOCK_VENV := .venv-lock

.PHONY: demo test lint bench mutation clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install -c $(CONSTRAINTS) -e '.[dev]'
	touch $(VENV)/.installed $@

# Resolve gridfed's dependencies (dev extra included) afresh and pin every version.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q '.[dev]'
	echo "# Pinned dependencies of gridfed (Python $$($(LOCK_VENV)/bin/python -c 'import platform; print(platform.python_version())')); refresh with 'make lock'." > $(CONSTRAINTS)
	$(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -vi '^gridfed' >> $(CONSTRAINTS)
	rm -rf $(LOCK_VENV) build

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
	rm -rf $(VENV) $(LOCK_VENV) results build *.egg-info
