# Two commands, each doing its own set-up on a fresh machine (only Python needed):
#   make demo   -- the main job on the built-in default
#   make test   -- lint and the test suite (what CI runs)
# torch==2.13.0 is installed first: it is the CPU build; any other torch spec pulls CUDA.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean constraints

# constraints.txt pins the versions CI tested (pip freeze); pyproject.toml has the ranges.
EXTRAS := dev,hf,tiktoken,ray,manifold,external

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Refresh the tested versions after changing dependencies: resolve the ranges anew in a
# throwaway venv, then freeze it (minus the package itself; torch without its +cpu label).
constraints:
	rm -rf .venv-constraints
	python3 -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip
	.venv-constraints/bin/pip install --quiet torch==2.13.0
	.venv-constraints/bin/pip install --quiet -e ".[$(EXTRAS)]"
	{ sed -n '/^#/p' constraints.txt; .venv-constraints/bin/pip freeze --exclude-editable \
	  | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' | grep -v '^scalinglab'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-constraints

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
