# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= test
CONSTRAINTS ?= constraints.txt
PIP_CONSTRAINTS := $(addprefix -c ,$(CONSTRAINTS))

.PHONY: install demo test test-min lint bench docs clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build, no CUDA packages
	$(PY) -m pip install -q $(PIP_CONSTRAINTS) torch
	$(PY) -m pip install -q $(PIP_CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(PY) -m sklearn_cl compare --out out/demo

test: install
	$(PY) -m pytest -q

# The whole suite against the oldest scikit-learn, skorch, numpy and scipy
# that pyproject.toml declares (constraints-min.txt), in its own environment.
# The extra test-core leaves out river and dask-ml, whose own minima are newer
# (scipy 1.12, scikit-learn 1.6.1): their tests skip.
test-min:
	$(MAKE) test VENV=.venv-min EXTRAS=test-core \
		CONSTRAINTS="constraints.txt constraints-min.txt"

lint: install
	$(VENV)/bin/ruff check sklearn_cl tests examples benchmarks
	$(VENV)/bin/ruff format --check sklearn_cl tests examples benchmarks

# the documentation site in docs/_build/html, warnings as errors; the gallery
# runs its quick offline examples (SPHINXOPTS="-D plot_gallery=0": none)
docs:
	$(MAKE) install EXTRAS=test,docs
	$(VENV)/bin/sphinx-build -W --keep-going -E -b html $(SPHINXOPTS) docs docs/_build/html

bench: install
	cd benchmarks && for script in bench_*.py; do ../$(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .venv-min *.egg-info
