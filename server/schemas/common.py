"""The wire format's shared parts: its limits, the config a session is made
with (bounds here, defaults in model.Config), errors and health."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backprop_ninja.model.config import Config

_LECTURE = Config()  # the defaults: the lecture's

# ---- limits (also enforced by the validators below) ------------------------
MAX_N_HIDDEN = 1024
MAX_N_EMBD = 64
MAX_BLOCK = 16
MAX_BATCH = 4096
MAX_TRAIN_STEPS = 20_000  # per request; live training has no such limit
MAX_DATASET_BYTES = 5 * 1024 * 1024
MAX_SAMPLES = 200
MAX_WS_MESSAGE = 64 * 1024  # bytes of one client message on the stream
MAX_REPLAY_STEPS = 1_000_000  # a shared link's step: ~4 min at the lecture's size
EXACT_REPLAY_MAX = 100  # a replay this short steps as the stepper did, bit for bit
MAX_STEP = 10**12  # a step count: ~30 years at 1000 steps/s, and exact in a JavaScript number

NodeName = str
Kind = Literal["data", "param", "activation", "loss"]
Mode = Literal["atomic", "lecture", "fused"]  # lecture: atomic in the notebook's line order
DeriveMode = Literal["atomic", "fused"]  # exercise 1 node by node; exercises 2 and 3
DType = Literal["float32", "float64"]
Nested = Any  # nested lists of floats (or ints for Xb/Yb), shaped like the tensor


class Strict(BaseModel):
    # unknown fields are an error naming them, not silently ignored; strict:
    # an integer is an integer (not true, "5" or 5.0), a string a string
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkerPublic(BaseModel):
    """One training worker process of the pool."""
    index: int
    alive: bool  # False while it starts (~2 s after launch) or restarts after dying
    pid: int | None
    restarts: int  # times it died and was started again
    sessions: int  # sessions training live on it now
    steps_per_sec: list[float]  # of each of them, each measured over the last ~0.5 s


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    workers: list[WorkerPublic]


class ErrorPublic(BaseModel):
    detail: str | list[Any]


# ---- data sets and sessions ------------------------------------------------
class DatasetPublic(BaseModel):
    id: str  # "default", or a hash of the words: the same list has the same id on every server
    name: str  # the file name it was uploaded as, or the built-in list's
    words: int  # how many words
    vocab: list[str]  # '.' first, then the characters in sorted order


class ConfigBase(Strict):
    """The model's configuration as the wire carries it: its bounds are here,
    its defaults are model.Config's (the lecture's), defined there once.
    Pages read both from GET /api/config."""
    seed: int = Field(_LECTURE.seed, ge=0, le=2**63 - 1)
    n_embd: int = Field(_LECTURE.n_embd, ge=1, le=MAX_N_EMBD)
    n_hidden: int = Field(_LECTURE.n_hidden, ge=1, le=MAX_N_HIDDEN)
    block_size: int = Field(_LECTURE.block_size, ge=1, le=MAX_BLOCK)
    batch_size: int = Field(_LECTURE.batch_size, ge=2, le=MAX_BATCH)
    lr: float = Field(_LECTURE.lr, gt=0, le=10)
    lr_decay_step: int | None = Field(_LECTURE.lr_decay_step, ge=0, le=MAX_STEP,
                                      description="lr drops to lr/10 from this step on")
    dtype: DType = _LECTURE.dtype
    dataset: str = Field("default", description='"default" (US census first names) or an id from POST /api/datasets')

    def to_config(self) -> Config:
        return Config(**self.model_dump(exclude={"dataset", "vocab_size"}))


class SessionCreate(ConfigBase):
    """A new session: every field left out takes the lecture's value."""


class ConfigQuery(SessionCreate):
    """SessionCreate as query parameters (GET /api/graph): they arrive as text."""
    model_config = ConfigDict(strict=False)


class ConfigPublic(ConfigBase):
    vocab_size: int


class FieldSpec(BaseModel):
    """One config field: its default and what is allowed."""
    default: Any
    # int | float: an integer field's bound as the integer it is (as a float,
    # 2**63 - 1 went out as 2**63, and 64.0 is no value a strict int field takes)
    minimum: int | float | None = None  # inclusive
    exclusive_minimum: int | float | None = None
    maximum: int | float | None = None  # inclusive
    choices: list[str] | None = None  # for a field that takes one of a few strings
    nullable: bool = False


class ConfigSpecPublic(BaseModel):
    fields: dict[str, FieldSpec]
