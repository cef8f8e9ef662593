"""Word lists: upload one (the raw file, one word a line), or look one up by id."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ..schemas.common import DatasetPublic
from ..sessions.datasets import DatasetStore
from . import deps

router = APIRouter(prefix="/api", tags=["datasets"])

TEXT_BODY = {"requestBody": {"required": True, "content": {"text/plain": {"schema": {
    "type": "string", "description": "the file's bytes: UTF-8 text, one word a line, at most 5 MB"}}}}}


def _public(store: DatasetStore, ds_id: str) -> DatasetPublic:
    return DatasetPublic(id=ds_id, name=store.name(ds_id), words=len(store.words(ds_id)),
                         vocab=list(store.vocab(ds_id).chars))


@router.post("/datasets", status_code=201, response_model=DatasetPublic,
             responses=deps.errors(413, 422, 429), openapi_extra=TEXT_BODY)
async def upload(request: Request,
                 name: Annotated[str | None, Query(max_length=1000, description="the file's name, to show")] = None,
                 ) -> DatasetPublic:
    """Check a word list (one word a line, UTF-8, printable, no '.') and store it
    under an id made from its words: the same list gets the same id anywhere."""
    data = await request.body()  # at most bodies.UPLOAD_BODY: BodyLimit saw to it
    store = deps.datasets(request)
    ds_id = await run_in_threadpool(store.add_bytes, data, name)
    return await run_in_threadpool(_public, store, ds_id)


@router.get("/datasets/{ds_id}", response_model=DatasetPublic, responses=deps.errors(404, 429))
def lookup(ds_id: str, store: DatasetStore = Depends(deps.datasets)) -> DatasetPublic:
    """A stored word list ("default": the built-in names): its name, size and vocabulary."""
    return _public(store, ds_id)
