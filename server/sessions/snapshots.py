"""Snapshots: a session as JSON (SnapshotPublic) and back, bit-identically.

Floats go out as Python floats (tolist): float32 values as the doubles
they are, float64 values as the shortest repr that reads back exactly.

An import is checked whole (`check`) before anything is created: every
parameter present with the shape its config needs, the running statistics'
shapes, every value a finite number, the step in range, the vocabulary that
of the data. A snapshot that fails names the field; nothing is left behind."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import torch

from backprop_ninja.model.data import DataError, Vocab, parse_words
from backprop_ninja.model.graph import BY_NAME, PARAMS, Dims

from ..errors import Unprocessable
from ..schemas.common import MAX_DATASET_BYTES, MAX_STEP, SessionCreate
from ..schemas.sessions import SnapshotPublic
from .lock import locked
from .session import Session

GENERATOR_BYTES = len(torch.Generator().get_state())
NUMBER = (int, float)


@locked
def export(s: Session, words: list[str] | None) -> SnapshotPublic:
    m = s.mlp
    gen = base64.b64encode(m.g.get_state().numpy().tobytes()).decode()
    return SnapshotPublic(
        config=s.config(), step=m.step, vocab=list(m.vocab.chars),
        params={k: t.tolist() for k, t in m.params.items()},
        running_mean=m.running_mean.tolist(), running_var=m.running_var.tolist(),
        calibration=None if m.calibration is None else [t.tolist() for t in m.calibration],
        generator=gen, dataset_words=words)


@dataclass
class Checked:
    body: SessionCreate  # its dataset is "default" until the words are stored
    words: list[str] | None  # to store as a new data set; None: the default one
    state: dict  # for MLP.load_state_dict


def _shape_of(value: Any) -> str:
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return "(" + ", ".join(map(str, dims)) + ")" if dims else type(value).__name__


def _tensor(field: str, value: Any, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Nested lists of exactly `shape`, numbers only (no booleans), finite in `dtype`."""
    want = "(" + ", ".join(map(str, shape)) + ")"

    def walk(v: Any, dims: tuple[int, ...]) -> None:
        if not isinstance(v, list) or len(v) != dims[0]:
            raise Unprocessable(f"{field}: must have shape {want} for the snapshot's config, got {_shape_of(value)}")
        if len(dims) == 1:
            if not all(type(x) in NUMBER for x in v):
                bad = next(x for x in v if type(x) not in NUMBER)
                raise Unprocessable(f"{field}: every entry must be a number, got {bad!r}")
        else:
            for row in v:
                walk(row, dims[1:])
    walk(value, shape)
    try:
        t = torch.tensor(value, dtype=dtype)
    except (OverflowError, RuntimeError):  # an integer beyond any float
        raise Unprocessable(f"{field}: a number too large for {dtype}".replace("torch.", "")) from None
    if not bool(torch.isfinite(t).all()):
        raise Unprocessable(f"{field}: every entry must be finite (no NaN or infinity, none beyond "
                            f"{str(dtype).replace('torch.', '')}'s range)")
    return t


def _words(words: list[str] | None) -> list[str] | None:
    if words is None:
        return None
    # surrogatepass: a lone surrogate (JSON's "\ud800") is counted here and
    # refused by parse_words as the unprintable character it is
    size = sum(len(w.encode("utf-8", "surrogatepass")) + 1 for w in words)
    if size > MAX_DATASET_BYTES:
        raise Unprocessable(f"dataset_words: {size} bytes as a word list; at most {MAX_DATASET_BYTES} (5 MB) "
                            "are allowed, as for an upload")
    if any("\n" in w or "\r" in w for w in words):
        raise Unprocessable("dataset_words: a word may not contain a line break")
    try:
        return parse_words("\n".join(words), "dataset_words")
    except DataError as err:
        raise Unprocessable(str(err)) from None


def check(snap: SnapshotPublic, default_vocab: Vocab) -> Checked:
    """Everything an import needs, checked; Unprocessable naming the field otherwise."""
    # its bounds were checked with the body: ConfigPublic is a ConfigBase
    body = SessionCreate(**snap.config.model_dump(exclude={"vocab_size", "dataset"}))
    words = _words(snap.dataset_words)
    vocab = Vocab.from_words(words) if words is not None else default_vocab
    if list(snap.vocab) != list(vocab.chars):
        raise Unprocessable(f"vocab: the snapshot's vocabulary ({len(snap.vocab)} characters) is not that of "
                            f"its data ({vocab.size}: {''.join(vocab.chars)[:60]})")
    if snap.config.vocab_size != vocab.size:
        raise Unprocessable(f"config.vocab_size: {snap.config.vocab_size}, but its data has {vocab.size} characters")
    if not 0 <= snap.step <= MAX_STEP:
        raise Unprocessable(f"step: {snap.step} is out of range; 0 to {MAX_STEP} are allowed")
    unknown = sorted(set(snap.params) - set(PARAMS))
    missing = [p for p in PARAMS if p not in snap.params]
    wrong = [f"{what} {', '.join(names)}" for what, names in (("missing", missing), ("unknown", unknown)) if names]
    if wrong:
        raise Unprocessable(f"params: {'; '.join(wrong)}; expected {', '.join(PARAMS)}")
    dims = Dims.of(body, vocab.size)
    dt = torch.float32 if body.dtype == "float32" else torch.float64
    params = {k: _tensor(f"params.{k}", snap.params[k], tuple(BY_NAME[k].shape(dims)), dt) for k in PARAMS}
    stat = (1, body.n_hidden)
    running_mean = _tensor("running_mean", snap.running_mean, stat, dt)
    running_var = _tensor("running_var", snap.running_var, stat, dt)
    if bool((running_var < 0).any()):
        raise Unprocessable("running_var: a variance cannot be negative")
    calibration = None
    if snap.calibration is not None:
        if len(snap.calibration) != 2:
            raise Unprocessable(f"calibration: must be [mean, var] or null, got {len(snap.calibration)} entries")
        calibration = [_tensor(f"calibration[{i}]", t, stat, dt) for i, t in enumerate(snap.calibration)]
    return Checked(body, words, {"step": snap.step, "vocab": "".join(vocab.chars), "params": params,
                                 "running_mean": running_mean, "running_var": running_var,
                                 "calibration": calibration, "generator": _generator(snap.generator)})


def _generator(text: str) -> torch.Tensor:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable("generator: not base64; it is the text a snapshot export wrote") from None
    if len(raw) != GENERATOR_BYTES:
        raise Unprocessable(f"generator: {len(raw)} bytes; a torch generator's state is {GENERATOR_BYTES}")
    state = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    try:
        torch.Generator().set_state(state)
    except RuntimeError:
        raise Unprocessable("generator: not a valid torch generator state") from None
    return state


@locked
def restore(s: Session, state: dict) -> None:
    """Resume from a checked snapshot's state (see `check`)."""
    s.model_changed()
    s.mlp.load_state_dict(state)
    s.history.truncate_after(-1)  # the session's own past (its step 0) is not this model's
    s.history.add_snapshot(state["step"], s.light_state())


EXPORTED_BY = "import a file saved by Export snapshot on the training page"


def invalid_message(errors: list[dict]) -> str:
    """One sentence for an import body that does not even parse as a
    SnapshotPublic: the wrong file altogether, or the first broken field."""
    for e in errors:
        if e.get("type") == "json_invalid":
            return (f"this file is not JSON ({e.get('ctx', {}).get('error', 'invalid')} at character "
                    f"{e.get('loc', ('body', '?'))[-1]}): {EXPORTED_BY}")
    top = {e["loc"][1] for e in errors if len(e.get("loc", ())) == 2 and e.get("type") == "missing"}
    if any(len(e.get("loc", ())) < 2 for e in errors) or top & {"config", "params", "generator"}:
        return f"this is not a backprop-ninja snapshot (it has no config, parameters and generator state): {EXPORTED_BY}"
    e = errors[0]
    where = ".".join(map(str, e["loc"][1:]))
    got = e.get("input")
    shown = f" (got {got!r})" if isinstance(got, (int, float, str, bool)) and len(repr(got)) < 40 else ""
    more = f", and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}" if len(errors) > 1 else ""
    return f"the snapshot is damaged or from another program: {where}: {e.get('msg', 'invalid')}{shown}{more}"
