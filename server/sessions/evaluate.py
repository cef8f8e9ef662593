"""Read-only views of a session that cost more than a lookup: history,
split losses over whole data sets, and sampled words."""
from __future__ import annotations

from ..errors import Conflict
from ..schemas.sessions import HistoryPublic, SamplePublic, SamplesPublic, SplitLossesPublic
from .lock import locked, reads_history
from .session import Session


@reads_history
def history(s: Session, since: int = -1, max_points: int | None = None,
            until: int | None = None) -> HistoryPublic:
    h = s.history
    return HistoryPublic(points=h.points(since, max_points, until), full_steps=h.full_steps_list(),
                         lr_changes=h.lr_changes())


@locked
def split_losses(s: Session, stats: str) -> SplitLossesPublic:
    m = s.mlp
    if stats == "calibrated":
        m.calibrate()  # always anew: the parameters may have moved since the last time
    losses = {split: m.split_loss(split, stats) for split in ("train", "val", "test")}
    return SplitLossesPublic(step=m.step, stats=stats, **losses)


@locked
def samples(s: Session, k: int, seed: int | None) -> SamplesPublic:
    m = s.mlp
    m.calibrate()
    try:
        words = m.sample_names(k, seed, stats="calibrated")
    except RuntimeError as err:  # diverged parameters: nothing to sample from
        raise Conflict(f"{err}; seek to an earlier step or start a session with a smaller lr") from None
    train = set(m.data.split_words["train"])
    return SamplesPublic(samples=[SamplePublic(word=w, seen=w in train) for w in words])
