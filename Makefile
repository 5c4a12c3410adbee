# The README's commands. `make demo` is the main job, `make test` the test run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup demo test test-slow test-llamacpp test-label-studio lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/classifine demo

test: setup
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# Opt-in: builds llama-cpp-python (about 12 min) and runs the openai backend against its real server.
test-llamacpp: setup
	bash scripts/test-llamacpp.sh

# Opt-in: installs Label Studio 1.23.2 in its own venv (about 4 min once), starts it (about 3.5 min) and
# runs the labelling loop against it: backend, pre-labels, annotations, a retrain and its decision.
test-label-studio: setup
	bash scripts/test-label-studio.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
