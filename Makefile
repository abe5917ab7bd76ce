# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch. On a GPU host, install your accelerator's PyTorch build into .venv first and run
# `make demo TORCH_PIN=torch` (any torch already installed satisfies it).
TORCH_PIN ?= torch==2.13.0
PACKAGES := -e . -e plugins/cpm -e vendors/cpu -e vendors/nvidia -e vendors/iluvatar
# pip's and setuptools' own chatter (location warnings, "Editable installation" banners) goes to this log; a failed
# install prints it whole.
INSTALL_LOG := $(VENV)/install.log
QUIET_PIP = $(BIN)/python -m pip install -q $(1) >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }

# The packages are installed editable, so a code change needs no reinstall: each install step leaves a stamp in
# $(VENV) and runs again only when a pyproject.toml changed (or after `make clean`), so a second `make demo` goes
# straight to the run instead of spending half a minute in pip.
PYPROJECTS := pyproject.toml plugins/cpm/pyproject.toml $(wildcard vendors/*/pyproject.toml)
INSTALLED := $(VENV)/.installed

.PHONY: demo test install install-test bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(call QUIET_PIP,--upgrade pip)

$(INSTALLED): $(BIN)/python $(PYPROJECTS)
	@echo "installing benchbase and its plugins into $(VENV) (pip's output: $(INSTALL_LOG))"
	@: > $(INSTALL_LOG)
	@$(call QUIET_PIP,"$(TORCH_PIN)")
	@$(call QUIET_PIP,$(PACKAGES))
	@touch $@

$(INSTALLED)-%: $(INSTALLED)
	@$(call QUIET_PIP,-e ".[$*]")
	@touch $@

install: $(INSTALLED)

install-test: $(INSTALLED)-test

demo: install
	$(BIN)/benchbase run cpm --vendor cpu --preset demo

test: install-test
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)-bench
	$(BIN)/python -m benchmarks.run_all

soak: install
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) reports/runs .cache
