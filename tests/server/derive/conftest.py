"""Fixtures shared by the Derive it tests (the `client` fixture, a real app
on loopback, is tests/server/conftest.py's)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module", params=["float32", "float64"])
def batch(client, request):
    """A session with a batch forwarded, shared by the tests of one module and dtype."""
    r = client.post("/api/sessions", json={"dtype": request.param})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.post(f"/api/sessions/{sid}/forward").status_code == 200
    yield sid
    client.delete(f"/api/sessions/{sid}")
