# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch; a GPU user installs their own build first and this pin is skipped by `make install-gpu`.
TORCH_PIN ?= torch==2.13.0
PACKAGES := -e . -e plugins/cpm -e vendors/cpu -e vendors/nvidia -e vendors/iluvatar

.PHONY: demo test install install-test bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q $(PACKAGES)

install-test: install
	$(BIN)/pip install -q -e ".[test]"

demo: install
	$(BIN)/benchbase run cpm --vendor cpu --preset demo

test: install-test
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python -m benchmarks.run_all

soak: install
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) reports/runs .cache
