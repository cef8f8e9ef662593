"""Browser fixtures: Debian's Chromium, headless, with no background traffic,
against the real server (`live_server` from tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1600, "height": 1200}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where screenshots go (artifacts/screenshots/, kept by CI)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
