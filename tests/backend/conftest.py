import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.settings import Settings
from models import registry


@pytest.fixture(scope="session")
def client():
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def default_model() -> registry.LoadedModel:
    return registry.load(registry.DEFAULT_MODEL)
