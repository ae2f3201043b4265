# hearlike — the two commands: `make book` (whole book on the embedded demo data) and `make test`.
# Both bootstrap their own environment in .venv (CPU torch first, never a CUDA build).

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PARAMS ?= params.yml
# notebooks (and the two demo datasets) made at once: one kernel per core of a 2-core machine
JOBS ?= 2
# torch is installed first and pinned, so nothing later pulls a multi-GB CUDA build. On a machine
# without the local CPU wheel, pass the CPU index:  make book TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
DEMO := data/demo/ground_truth.json
DEMO_NULL := data/demo-null/ground_truth.json
export PYTHONHASHSEED := 0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: help install data notebooks book html book-check test bench clean clean-cache

help:
	@echo "make book   - set up .venv, write the demo data, execute the notebooks, build _build/html"
	@echo "make book-check - open every page of _build/html in headless Chromium (1280 and 400 px); screenshots in _build/screenshots"
	@echo "make test   - set up .venv and run the test suite"
	@echo "make notebooks PARAMS=params-null.yml - re-execute the notebooks with another parameter file"
	@echo "JOBS=n (default 2) - notebooks and demo datasets made at once (one kernel per core)"

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; pass PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[book,dev]"
	# mne-rsa is a test-only peer whose metadata drags in Qt and VTK GUIs it does not need here
	$(PY) -m pip install -q --no-deps "mne-rsa>=0.9"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(DEMO): | $(STAMP)
	$(PY) -m hearlike -v demo --out data/demo
$(DEMO_NULL): | $(STAMP)
	$(PY) -m hearlike -v demo --null --out data/demo-null

data: | $(STAMP)
	$(MAKE) -j$(JOBS) $(DEMO) $(DEMO_NULL)

notebooks: data
	$(PY) -m hearlike -v run-notebooks --params $(PARAMS) --jobs $(JOBS)

html: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going

book: notebooks
	$(MAKE) html
	@echo "book: open _build/html/index.html"

# headless Chromium from Debian's package (apt-get installed when missing and root; skipped with the reason otherwise)
book-check: $(STAMP)
	$(PY) -m hearlike.bookcheck --html _build/html --screenshots _build/screenshots

test: $(STAMP)
	$(PY) -m pytest -q

bench: data
	$(PY) bench/grid.py
	$(PY) bench/extract.py
	$(PY) bench/nulls.py

clean:
	rm -rf _build book/*.ipynb

clean-cache:
	rm -rf cache data/demo data/demo-null
