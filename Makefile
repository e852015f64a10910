# Two commands from a fresh clone: `make demo` and `make test` (they create .venv and install into it).
# `--dist loadscope` keeps each test module on one worker, so module fixtures (a full school run and book
# build in test_public_build) run once, not once per worker.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= workspace
PYTEST_ARGS ?=  # e.g. `make test PYTEST_ARGS=-rP` prints what the simulations print (their rates)

.PHONY: install demo test test-full lint bench sample clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PY) -m venv $(VENV) || { echo "python3-venv отсутствует — ставлю из Debian"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@bash scripts/install_system_deps.sh || true
	$(BIN)/vsoko demo --workspace $(WORKSPACE)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadscope $(PYTEST_ARGS)

# the long null/power simulations at full size (twice the suite's; see tests/simnull.py::sim_count)
test-full: install
	VSOKO_FULL_SIMS=1 $(BIN)/python -m pytest -q -n 2 --dist loadscope -rP $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(WORKSPACE) .pytest_cache .ruff_cache
