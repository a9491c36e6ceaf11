import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("ATTNLAB_CORPUS", ROOT.parent / "shared" / "corpus" / "tinystories"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "val.txt").is_file():
        pytest.skip(f"the TinyStories corpus is not at {CORPUS} (set ATTNLAB_CORPUS); this clone has no ../shared/corpus")
    return CORPUS
