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
    # the training lab (backend/lab.py): worker processes training at once (a paused run keeps its worker), runs
    # waiting beyond them (more: 503), each run's step and time budget, how long a run lives unwatched (no event
    # stream, no poll) or paused, its checkpoints' memory, ended runs kept, lab models registered, workers' nice
    lab_max_runs: int = Field(1, ge=0)
    lab_max_queued: int = Field(4, ge=0)
    lab_max_steps: int = Field(3000, ge=1)
    lab_max_seconds: float = Field(180.0, gt=0, allow_inf_nan=False)
    lab_watch_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    lab_max_paused_s: float = Field(600.0, gt=0, allow_inf_nan=False)
    lab_checkpoint_mb: float = Field(32.0, ge=0, allow_inf_nan=False)
    lab_keep_runs: int = Field(4, ge=0)
    lab_max_registered: int = Field(32, ge=0)
    lab_nice: int = Field(10, ge=0, le=19)


@lru_cache
def get_settings() -> Settings:
    return Settings()
