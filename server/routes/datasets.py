"""Upload a word list: the raw text, one word a line."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..schemas import DatasetPublic
from . import deps

router = APIRouter(prefix="/api", tags=["datasets"])

TEXT_BODY = {"requestBody": {"required": True, "content": {"text/plain": {"schema": {
    "type": "string", "description": "UTF-8 text, one word a line, at most 5 MB"}}}}}


@router.post("/datasets", status_code=201, response_model=DatasetPublic,
             responses=deps.errors(413, 422, 429), openapi_extra=TEXT_BODY)
async def upload(request: Request) -> DatasetPublic:
    """Check a word list (one word a line, UTF-8, printable, no '.') and keep it."""
    data = await request.body()  # at most bodies.UPLOAD_BODY: BodyLimit saw to it
    store = deps.datasets(request)
    ds_id = await run_in_threadpool(store.add_bytes, data)
    words = store.words(ds_id)
    return DatasetPublic(id=ds_id, words=len(words), vocab=list(store.vocab(ds_id).chars))
