# fem_assb: `make demo` and `make test` each install everything into .venv first.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
MPIEXEC ?= $(VENV)/bin/mpiexec
NP    ?= 2
export OMP_NUM_THREADS ?= 1

.PHONY: install demo notebooks docs test test-serial test-mpi lint benchmark clean

$(VENV)/.installed: pyproject.toml
	@set -e; py=$$(./scripts/find-python); echo "using $$py"; \
	  [ -x $(PY) ] || $$py -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dolfinx,test]"
	@touch $@

install: $(VENV)/.installed

demo: install
	$(PY) demos/01_getting_started.py

# every demo as a notebook, executed on tiny sizes (results/notebooks/*.ipynb)
notebooks: install
	mkdir -p results/notebooks
	for d in demos/[0-9]*.py; do \
	  n=results/notebooks/$$(basename $$d .py).ipynb; \
	  $(VENV)/bin/jupytext --to notebook -o $$n $$d && \
	  FEM_ASSB_TINY=1 FEM_ASSB_DEMO_OUT=$(CURDIR)/results/notebooks/out $(VENV)/bin/jupyter nbconvert \
	    --to notebook --execute --inplace $$n || exit 1; \
	done

# the documentation site (results/site), demos executed at tiny size, warnings as errors
docs: install
	FEM_ASSB_DOCS_EXECUTE=true FEM_ASSB_TINY=1 FEM_ASSB_DEMO_OUT=$(CURDIR)/results/docs \
	  NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: install
	$(VENV)/bin/ruff check fem_assb tests demos benchmarks

test-serial: install
	$(PY) -m pytest -q tests

test-mpi: install
	$(MPIEXEC) -n $(NP) $(PY) -m pytest -q -m mpi -p no:cacheprovider tests

test: lint test-serial test-mpi

benchmark: install
	$(PY) benchmarks/bench_conductivity.py

clean:
	rm -rf $(VENV) results .pytest_cache
