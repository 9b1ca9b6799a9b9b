# Two commands that work on a fresh machine with only python3:
#   make demo   set up .venv and run the main job on the embedded defaults
#   make test   set up .venv and run the test suite (CI runs this)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,all-stores]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/unembed demo

test: $(STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) demo_out .pytest_cache
