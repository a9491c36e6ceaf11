"""Tests of the backend (FastAPI app, CLI, lessons)."""
