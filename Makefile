# Two commands, each doing its own set-up on a fresh machine (only Python needed):
#   make demo   -- the main job on the built-in default
#   make test   -- lint and the test suite (what CI runs)
# torch==2.13.0 is installed first: it is the CPU build; any other torch spec pulls CUDA.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,hf,tiktoken,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scalinglab demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/fit_speed.py
	$(PY) bench/train_throughput.py
	$(PY) bench/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
