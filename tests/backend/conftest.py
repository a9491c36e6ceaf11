import os

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.settings import Settings
from models import registry

# FastAPI's TestClient sends `Host: testserver`: the apps these tests make answer that name too (the default allows
# only the server's own names: 127.0.0.1, localhost, [::1]). Set before any test module builds an app.
TEST_HOST = "testserver"
os.environ["ATTNLAB_ALLOWED_HOSTS"] = TEST_HOST


@pytest.fixture(scope="session")
def client():
    # a model not loaded yet is waited for up to 60 s (the app's default is 1 s, then a 503 while it loads): a
    # test of another view should not depend on how fast this machine loads a model; tests/backend/test_loading.py
    # tests the 503s
    with TestClient(create_app(Settings(load_wait_s=60)), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def default_model() -> registry.LoadedModel:
    return registry.load(registry.DEFAULT_MODEL)


@pytest.fixture
def letters_model(tmp_path, own_registry) -> str:
    """A model of the training lab (the copy task, size tiny, untrained: its vocabulary is one token per letter, its
    length 24 tokens) written as `attnlab lab save` writes it and added as --add-model adds it; its name."""
    from models.lab import LabConfig, LabTrainer, save_folder

    t = LabTrainer(LabConfig(task="copy", size="tiny", seed=1))
    save_folder(tmp_path / "letters", t.cfg, t.state_dict(), t.step, t.seconds)
    return own_registry.register_folder(tmp_path / "letters")
