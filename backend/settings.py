"""One Settings object: limits, host, port and default model. Override with ATTNLAB_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.registry import DEFAULT_MODEL

LESSONS_DIR = Path(__file__).resolve().parent.parent / "frontend" / "lessons"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTNLAB_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    default_model: str = DEFAULT_MODEL
    max_text_chars: int = 2000
    max_top_k: int = 50
    max_temperature: float = 5.0
    max_continue_tokens: int = 50
    max_positions_n: int = 512  # GET /api/positional: at most this many positions
    # a request with allow_beyond_trained may run a model past its trained length (the tiny models: 128 tokens) up to
    # this many tokens, on a model whose positional scheme can run there (not learned positions). 512 is 4x the tiny
    # models' trained length, the range of the loss-by-position curves; at 512 tokens one layer's attention is
    # 4 heads x 512 x 512 weights (about a million numbers), so the page asks for one layer at a time there
    max_beyond_tokens: int = Field(512, ge=1)
    max_neighbors: int = 50
    max_body_bytes: int = 1_000_000
    max_concurrent_runs: int = 2  # forward passes at once (the machine's cores)
    max_queued_runs: int = 32  # waiting beyond this: 503 at once
    queue_timeout_s: float = 10.0  # waiting longer than this: 503
    # memory for the forward passes kept for reuse by (model, text, interventions); 0: none. The 4 most recent
    # stay even past it (see ModelService)
    result_cache_mb: float = Field(512, ge=0, allow_inf_nan=False)
    cors_origins: list[str] = []  # no CORS unless configured
    lessons_dir: Path = LESSONS_DIR  # GET /api/lessons reads the *.md files of this folder (ATTNLAB_LESSONS_DIR)


@lru_cache
def get_settings() -> Settings:
    return Settings()
