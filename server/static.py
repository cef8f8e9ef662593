"""The front end as static files, and plotly.min.js from the installed
plotly package: the page loads nothing from a CDN."""
from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

PLACEHOLDER = """<!doctype html><meta charset="utf-8"><title>backprop-ninja</title>
<p>The front end is not there yet (no frontend/index.html). The API is up: see <a href="/docs">/docs</a>.</p>"""


class LenientStatic(StaticFiles):
    """StaticFiles that answers 404 (not 500) while the directory is missing,
    and starts serving as soon as it appears."""

    async def get_response(self, path, scope):
        if not Path(self.directory).is_dir():
            raise HTTPException(404, f"no front end directory {self.directory}")
        return await super().get_response(path, scope)

    async def check_config(self):  # checked per request in get_response instead
        return None


def mount(app: FastAPI, frontend: Path = FRONTEND) -> None:
    @app.get("/", include_in_schema=False)
    def index():
        page = frontend / "index.html"
        if page.is_file():
            # no-cache: the page must pick up a new front end after an update
            return FileResponse(page, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    app.mount("/static", LenientStatic(directory=frontend, check_dir=False), name="static")
