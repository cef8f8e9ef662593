"""`create_app(settings)`: assembles the FastAPI app, nothing more."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .derive.sandbox import Sandbox
from .errors import ApiError
from .guards.bodies import BodyLimit, http_error_message
from .guards.budget import Budget
from .guards.security import CLIENT_HEADER, STATE_CHANGING, Access, Guard
from .rooms.bus import LocalBus, RedisBus
from .rooms.hub import Rooms
from .routes import checks, datasets, derive, graph, inspect, pages, rooms, sessions, stream
from .sessions import snapshots
from .sessions.datasets import DatasetStore
from .sessions.store import SessionStore
from .sessions.trajectories import Trajectories
from .settings import Settings


def _validation_message(err: RequestValidationError) -> str:
    # one readable line per problem: "n_hidden: Input should be <= 1024 (got 5000)"
    parts = []
    for e in err.errors():
        if e.get("type") == "json_invalid":  # FastAPI's: loc is ("body", character)
            where = e.get("loc", ("body", "?"))[-1]
            parts.append(f"body: not JSON ({e.get('ctx', {}).get('error', 'invalid')} at character {where})")
            continue
        loc = [str(x) for x in e.get("loc", ())]
        where = ".".join(loc[1:]) or (loc[0] if loc else "request")
        got = e.get("input")
        shown = f" (got {got!r})" if isinstance(got, (int, float, str, bool)) and len(repr(got)) < 60 else ""
        parts.append(f"{where}: {e.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


def _session_links(schema: dict) -> None:
    """OpenAPI links from the routes that make a session to every route that
    takes its id: clients (and schemathesis' stateful phase) can follow them."""
    paths = schema.get("paths", {})
    targets = {op["operationId"]: op for path, ops in paths.items() if "{sid}" in path for op in ops.values()}
    links = {op_id: {"operationId": op_id, "parameters": {"sid": "$response.body#/id"}} for op_id in targets}
    for path in ("/api/sessions", "/api/sessions/import"):
        paths[path]["post"]["responses"]["201"]["links"] = links


def _client_header(schema: dict) -> None:
    """Document the header every state-changing request needs (security.py),
    so /docs sends it from "Try it out" and clients see it."""
    param = {"name": CLIENT_HEADER, "in": "header", "required": True,
             "schema": {"type": "string", "minLength": 1, "default": "docs"},
             "description": "any value; other sites' pages cannot send it, so they cannot change state"}
    for ops in schema.get("paths", {}).values():
        for method, op in ops.items():
            if method.upper() in STATE_CHANGING:
                op.setdefault("parameters", []).append(param)


def _openapi_with_string_errors(app: FastAPI):
    """/openapi.json as FastAPI builds it, but with 422 answers documented as
    they are sent: {"detail": "one readable line"} (see bad_request below),
    and links from a new session to the routes that take its id."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = base()
            schema.get("components", {}).get("schemas", {})["HTTPValidationError"] = {
                "title": "HTTPValidationError", "type": "object", "required": ["detail"],
                "properties": {"detail": {"type": "string", "title": "Detail"}}}
            _session_links(schema)
            _client_header(schema)
            app.openapi_schema = schema
        return app.openapi_schema
    return openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # reads the default word list now: a bad --data file fails at start, not later
    budget = Budget.from_settings(settings)
    ds = DatasetStore(settings.data_dir, settings.data, settings.max_datasets, budget,
                      settings.datasets_max_mb << 20)
    store = SessionStore(settings, ds, budget)
    sandbox = Sandbox()
    bus = RedisBus(settings.redis_url) if settings.redis_url else LocalBus()
    room_set = Rooms(bus, settings.room_timeout, settings.room_misses_per_minute)

    async def expire_idle():
        # requests expire idle sessions too; this frees memory when none come
        while True:
            await asyncio.sleep(min(60.0, settings.idle_ttl / 2))
            await run_in_threadpool(store.expire)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        janitor = asyncio.create_task(expire_idle())
        store.pool.start()  # now (~2 s to be ready): the first play finds them running
        sandbox.start()  # the learners' code runs in its children (sandbox.py)
        await room_set.start()
        yield
        await room_set.close()
        sandbox.close()
        janitor.cancel()
        store.close_all()  # stop the training workers before the process exits

    app = FastAPI(title="backprop-ninja", version=metadata.version("backprop-ninja"), lifespan=lifespan,
                  description="Step the lecture's MLP node by node and stream every tensor.")
    app.state.settings, app.state.datasets, app.state.sessions = settings, ds, store
    app.state.sandbox = sandbox
    app.state.rooms = room_set
    app.state.budget = budget
    app.state.links = Trajectories(settings.replay_cache_mb << 20, settings.snapshot_every, budget)
    app.state.access = Access.from_settings(settings)
    # bodies are capped on every route (bodies.py): parsed, an uncapped
    # JSON body cost ~12x its size. Added last, Guard runs first
    app.add_middleware(BodyLimit, budget=budget)
    app.add_middleware(Guard, access=app.state.access)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return JSONResponse({"detail": err.message}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError):
        # a snapshot import is a file a person picked: say whether it is one at all
        wrong_file = request.url.path == "/api/sessions/import"
        message = snapshots.invalid_message(err.errors()) if wrong_file else _validation_message(err)
        return JSONResponse({"detail": message}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        # Starlette's and FastAPI's own answers ("Not Found", "Content Too
        # Large", a body that is not UTF-8 JSON), as sentences
        status, message = http_error_message(request, err)
        return JSONResponse({"detail": message}, status_code=status, headers=err.headers)

    for module in (graph, datasets, sessions, inspect, stream, derive, checks, rooms):
        app.include_router(module.router)
    pages.mount(app)
    app.openapi = _openapi_with_string_errors(app)
    return app
