"""Server test fixtures: the app in-process (TestClient) with test settings."""
from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from backprop_ninja.server.app import create_app
from backprop_ninja.server.settings import Settings
from tests.conftest import CLIENT


def make_client(**settings) -> TestClient:
    """The app as the front end talks to it: TestClient's host name
    ("testserver") allowed, the header of the front end's calls sent."""
    settings.setdefault("allowed_hosts", ["testserver"])
    return TestClient(create_app(Settings(**settings)), headers=CLIENT)


def ready(client: TestClient) -> TestClient:
    """Once started (`with`): wait for the training workers, so that a play
    does not wait for them (and tests do not depend on how long they take)."""
    assert client.app.state.sessions.pool.wait_ready(60)
    return client


@pytest.fixture(scope="module")
def client():
    with make_client(max_sessions=200) as c:
        yield ready(c)


@pytest.fixture
def sid(client) -> str:
    """A fresh session with the lecture's defaults."""
    r = client.post("/api/sessions")
    assert r.status_code == 201, r.text
    yield r.json()["id"]
    client.delete(f"/api/sessions/{r.json()['id']}")
