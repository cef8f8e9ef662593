"""What a request may send: body sizes, JSON depth, and the sentences for
the answers Starlette and FastAPI give on their own.

Every route's body is capped (BodyLimit: a declared Content-Length over the
cap is refused before reading, a chunked body as soon as it passes it); the
word-list upload and the snapshot import raise the cap to what their largest
valid body needs. (Starlette's own limiter answers in plain text.)"""
from __future__ import annotations

import json
import re
from http import HTTPStatus

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ApiError
from ..schemas.common import MAX_DATASET_BYTES, MAX_WS_MESSAGE
from .budget import Budget, body_cost, size_text

MAX_BODY = 64 * 1024  # every JSON command is a few hundred bytes
UPLOAD_BODY = MAX_DATASET_BYTES
# a snapshot at the largest config: ~1.1 M parameters at up to 24 characters
# each (~27 MB), and a 5 MB word list quoted (~12 MB)
IMPORT_BODY = 64 * 1024 * 1024
ROUTE_BODY = {("POST", "/api/datasets"): UPLOAD_BODY, ("POST", "/api/sessions/import"): IMPORT_BODY}
MAX_DEPTH = 16  # stream commands nest 2 deep; Python's parser recurses ~1000 deep

# a string, or an unclosed one to the end of the text: matching only closed
# strings, every quote of \"\"\"... was tried again as a start and
# scanned to the end (64 KB took ~10^9 steps on the event loop). JSON stops at
# an unclosed string, so the brackets after one are never parsed
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def nesting(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped)."""
    deepest = depth = 0
    for ch in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def message(msg: dict):
    """A WebSocket message's JSON, read within MAX_WS_MESSAGE bytes and MAX_DEPTH
    levels; ValueError with a sentence otherwise."""
    text = msg.get("text")
    if text is None:
        raise ValueError("binary messages are not commands: send JSON text like {\"cmd\": \"forward\"}")
    size = len(text.encode())
    if size > MAX_WS_MESSAGE:
        raise ValueError(f"message of {size} bytes; at most {MAX_WS_MESSAGE} are allowed")
    deep = nesting(text)
    if deep > MAX_DEPTH:
        raise ValueError(f"JSON nested {deep} deep; at most {MAX_DEPTH} levels are allowed")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg} at character {err.pos}): "
                         "send a JSON object like {\"cmd\": \"forward\"}") from None


def problem(err: ValidationError) -> str:
    """A command's validation errors in one line: "steps: Input should be ..." (loc[0] is its "cmd" tag)."""
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'command'}: {e['msg']}" for e in err.errors())


class BodyLimit:
    """Refuse a request body over its route's cap with a 413 sentence; a
    body within it counts against the memory budget while it is handled
    (parsed, a JSON body takes ~10x its size)."""

    def __init__(self, app: ASGIApp, budget: Budget):
        self.app, self.budget = app, budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = ROUTE_BODY.get((scope["method"], scope["path"].rstrip("/") or "/"), MAX_BODY)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                return await self._refuse(scope, receive, send, limit)
            # the server holds the body to that length
            return await self._handle(scope, receive, send, int(declared) if declared.isdigit() else limit)
        # chunked: read it all here, within the cap, then hand it on
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await self._refuse(scope, receive, send, limit)
            more = message.get("more_body", False)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()
        await self._handle(scope, replayed, send, size)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        if size < MAX_BODY:  # small bodies: not worth the accounting
            return await self.app(scope, receive, send)
        key = ("body", id(scope))
        try:
            self.budget.charge(key, body_cost(size), f"reading a request body of {size_text(size)}")
        except ApiError as err:
            return await JSONResponse({"detail": err.message}, status_code=err.status)(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            self.budget.release(key)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = (f"request body too large: {scope['method']} {scope['path']} accepts at most "
                   f"{limit} bytes ({size_text(limit)})")
        await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)


def http_error_message(request: Request, err: HTTPException) -> tuple[int, str]:
    """(status, one sentence) for an HTTPException Starlette or FastAPI raised."""
    where = f"{request.method} {request.url.path}"
    status = err.status_code
    default = err.detail == HTTPStatus(status).phrase
    if status == 400 and err.detail == "There was an error parsing the body":
        # FastAPI's answer when json.loads fails other than by a syntax error
        cause = err.__cause__
        if isinstance(cause, UnicodeDecodeError):
            return 422, f"body: not UTF-8 ({cause.reason} at byte {cause.start}); send JSON encoded as UTF-8"
        if isinstance(cause, RecursionError):
            return 422, "body: JSON nested too deep to read; these bodies nest a few levels at most"
        return 422, f"body: not readable as JSON ({type(cause).__name__}); send a JSON object"
    if status == 404 and default:
        return 404, f"nothing at {where}: the API's routes are listed at /docs"
    if status == 405 and default:
        allow = Headers(err.headers or {}).get("allow", "")
        return 405, f"{request.method} is not allowed on {request.url.path}" + (f": use {allow}" if allow else "")
    return status, err.detail if isinstance(err.detail, str) else HTTPStatus(status).phrase
