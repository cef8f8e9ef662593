"""Shared route helpers: the stores live on app.state, built by create_app."""
from __future__ import annotations

from fastapi import Request

from ..guards.budget import Budget
from ..schemas.common import ErrorPublic
from ..sessions.datasets import DatasetStore
from ..sessions.session import Session
from ..sessions.store import SessionStore


def sessions(request: Request) -> SessionStore:
    return request.app.state.sessions


def datasets(request: Request) -> DatasetStore:
    return request.app.state.datasets


def budget(request: Request) -> Budget:
    return request.app.state.budget


def session(sid: str, request: Request) -> Session:
    return request.app.state.sessions.get(sid)


def errors(*codes: int) -> dict:
    """OpenAPI entries for the error answers a route can give."""
    return {c: {"model": ErrorPublic} for c in codes}
