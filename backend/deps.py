"""FastAPI dependencies: the Settings and the ModelService (tests override them)."""

from __future__ import annotations

from fastapi import Request

from backend.service import ModelService
from backend.settings import Settings


def get_service(request: Request) -> ModelService:
    return request.app.state.service


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings
