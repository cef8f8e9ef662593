"""The pages: the front end (package data of backprop_ninja.frontend) as
static files, and plotly.min.js from the installed plotly package: the page
loads nothing from a CDN."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

# a real folder in every supported install (a wheel or an editable checkout; not a zip)
FRONTEND = Path(str(files("backprop_ninja.frontend")))
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def mount(app: FastAPI, frontend: Path = FRONTEND) -> None:
    @app.get("/", include_in_schema=False)
    def index():
        # no-cache: the page must pick up a new front end after an update
        return FileResponse(frontend / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=frontend), name="static")
