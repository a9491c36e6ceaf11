"""FastAPI dependencies: the Settings and the ModelService (tests override them).

`async def`, though they only read an attribute: FastAPI runs a plain `def` dependency in its thread pool, one
round trip to a worker thread and back on every request before the route starts (on two busy cores, a wait for
a thread to be scheduled each way); an `async def` one runs in the event loop at once."""

from __future__ import annotations

from fastapi import Request

from backend.service import ModelService
from backend.settings import Settings


async def get_service(request: Request) -> ModelService:
    return request.app.state.service


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings
