"""One Settings object: limits, host, port and default model. Override with ATTNLAB_* variables."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    max_ablation_heads: int = 16  # POST /api/attribution/ablation: heads (forward passes) per request
    max_probe_length: int = 64  # the induction probe: at most this many random tokens (twice, so 128 in all)
    max_role_models: int = 8  # POST /api/roles/models: at most this many models in one request
    max_body_bytes: int = 1_000_000
    max_concurrent_runs: int = 2  # forward passes at once (the machine's cores)
    # torch threads per forward pass; None: the cores shared among the concurrent passes (at least 1), so that two
    # passes at once do not make four threads fight for two cores
    torch_threads: int | None = Field(None, ge=1)
    max_queued_runs: int = 32  # waiting beyond this: 503 at once
    # processes that compute /api/analyze of the default model on a new sentence while this one is busy computing
    # another (backend/overflow.py); None: one per core beyond the first; 0: none
    helper_processes: int | None = Field(None, ge=0)
    queue_timeout_s: float = 10.0  # waiting longer than this: 503
    # a request for a model that is not loaded yet waits this long while it loads in the background, then gets a
    # 503 with Retry-After that says how far along the load is (the page shows it and asks again)
    load_wait_s: float = Field(1.0, ge=0, le=60, allow_inf_nan=False)
    # memory for the forward passes kept for reuse by (model, text, interventions); 0: none. A pass larger
    # than this is not kept (see ModelService)
    result_cache_mb: float = Field(512, ge=0, allow_inf_nan=False)
    cors_origins: list[str] = []  # no CORS unless configured
    lessons_dir: Path = LESSONS_DIR  # GET /api/lessons reads the *.md files of this folder (ATTNLAB_LESSONS_DIR)
    # what one answer may cost (past a limit: 422 naming it). A report draws every head of the model, so its tokens
    # are bounded by the model's size: layers x heads x tokens^2 attention weights at most (the default is what the
    # tiny models hold at their 128 tokens); a comparison likewise (both sides and their difference)
    max_answer_mb: float = Field(16, gt=0, allow_inf_nan=False)  # any JSON answer of a model route
    max_report_weights: int = Field(262_144, ge=1)
    max_compare_weights: int = Field(1_000_000, ge=1)
    # the Host header a request may carry: 127.0.0.1, localhost and [::1] always; with host 0.0.0.0 or :: this
    # machine's own names and addresses too; and these (ATTNLAB_ALLOWED_HOSTS: a JSON list or names separated by
    # commas; "*" allows any). Anything else: 400 (no DNS rebinding)
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # the HTTP server of `attnlab serve` (uvicorn with httptools)
    max_header_bytes: int = Field(65_536, ge=1024)  # request line + headers; more: 431 and the connection closed
    header_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)  # to send a whole request head, from the
    # connection's start or the end of the previous answer; later: the connection is closed
    keep_alive_s: float = Field(5.0, gt=0, allow_inf_nan=False)  # an idle kept-alive connection is closed after this
    # to send a whole request body, from the end of its head (a page's body is a few KB; the largest allowed,
    # max_body_bytes, is 1 MB): later, a 408 and the connection closed, and what it sent is freed
    body_timeout_s: float = Field(30.0, gt=0, allow_inf_nan=False)
    # the request bodies being received, over all connections (each is held until it is whole; a page's is a few
    # KB): a body that would take more gets a 503 with Retry-After and its connection closed
    max_pending_body_mb: float = Field(64, gt=0, allow_inf_nan=False)
    # an answer waits in the server's memory until its client has read it: one whose client reads less than 64 KiB
    # of it in send_timeout_s (a client that stopped reading, a laptop closed mid-answer) is dropped with its
    # connection; and while the answers waiting for their clients hold more than max_unsent_mb over all connections,
    # a model route answers 503 with Retry-After instead of adding one more (20 clients reading a 14 MB answer of
    # SmolLM2 slowly held 275 MB, without a bound)
    send_timeout_s: float = Field(30.0, gt=0, allow_inf_nan=False)
    max_unsent_mb: float = Field(256, gt=0, allow_inf_nan=False)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts_from_text(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            return json.loads(v) if v.startswith("[") else [h for h in (p.strip() for p in v.split(",")) if h]
        return v
    # the training lab (backend/lab.py): worker processes training at once (a paused run keeps its worker), runs
    # waiting beyond them (more: 503), each run's step and time budget, how long a run lives unwatched (no event
    # stream, no poll) or paused, its checkpoints' memory, ended runs kept, lab models registered, workers' nice, and
    # the event streams open at once over all runs (each looks at its run ten times a second on the event loop; one
    # more: 503, and the page polls instead)
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
    lab_max_streams: int = Field(64, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def helper_processes(settings: Settings) -> int:
    return (os.cpu_count() or 1) - 1 if settings.helper_processes is None else settings.helper_processes


def torch_threads(settings: Settings) -> int:
    return settings.torch_threads or max(1, (os.cpu_count() or 1) // settings.max_concurrent_runs)
