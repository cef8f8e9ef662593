"""Rooms: a teacher drives, followers watch. What POST /api/rooms takes and
gives, and every message on a room's teach and follow sockets."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

from .common import MAX_BATCH, ConfigPublic, DeriveMode, Mode, Nested, NodeName, Strict
from .frames import FramePublic
from .graph import GraphPublic
from .sessions import HistoryPublic, SessionPublic, SnapshotPublic, TensorBase

# ---- rooms (issue 17): a teacher drives, followers watch --------------------
# POST /api/rooms makes a room for one of the caller's sessions; the teacher's
# page holds the secret it returns. WebSocket /api/rooms/{code}/teach takes
# TeachCommand messages; WebSocket /api/rooms/{code}/follow sends RoomGraph,
# RoomState and RoomStatus messages (the newest of each kind: a slow follower
# skips frames) and refuses every command but FollowCommand.
ROOM_CODE_LEN = 10  # characters of a 32-letter alphabet: 2^50 codes
RoomPage = Literal["stepper", "train"]
ROOM_HISTORY_POINTS = 1500  # loss-curve points a training-page room sends (thinned, as the page's own first load)


class RoomCreate(Strict):
    session: str = Field(max_length=64, description="the id of the session to teach from (yours: ids are secret)")
    page: RoomPage = Field("stepper", description="the page teaching and followed: the stepper, or the training "
                                                 "dashboard (live training, its frames fanned out by the room)")


class RoomCreated(BaseModel):
    code: str = Field(description="what followers type, e.g. K7QM-2XD9-HP")
    secret: str = Field(description="the teacher's: drives the room, never shown to followers")
    join_url: str = Field(description="the page a follower opens (with the server's access token, if it has one)")
    qr_svg: str = Field(description="the join link as a QR code, an SVG drawn on the server")


class RoomPublic(BaseModel):
    code: str
    teacher_connected: bool
    followers: int
    ended: bool


class RoomViewPublic(Strict):
    """What the teacher's page shows besides the session: the same for every follower."""
    selected: NodeName | None = Field(None, max_length=40, description="the node the teacher picked, if pinned")
    pinned: bool = False
    inspect: NodeName | None = Field(None, max_length=40, description="the node whose tensors the inspector shows")
    row: int | None = Field(None, ge=0, le=MAX_BATCH, description="the dlogits row shown")
    sort_by_loss: bool = False
    show_diff: bool = False
    present: bool = False
    playing: bool = False  # the stepper's play (one node every 0.6 s) or live training
    derive: bool = Field(False, description="the teacher's \"Derive it\" is on: followers are invited to write "
                                            "the gradient of `inspect` themselves (a late joiner too)")


class TeachView(RoomViewPublic):
    session: str = Field(max_length=64, description="the teacher's current session (a reset makes a new one)")


class TeachHello(Strict):
    cmd: Literal["hello"]
    secret: str = Field(max_length=100)


class TeachViewCmd(Strict):
    cmd: Literal["view"]
    view: TeachView


class TeachEnd(Strict):
    cmd: Literal["end"]


TeachCommand = Annotated[Union[TeachHello, TeachViewCmd, TeachEnd], Field(discriminator="cmd")]


class FollowNickname(Strict):
    cmd: Literal["nickname"]
    nickname: str = Field(max_length=24, pattern=r"^[^<>&\x00-\x1f]*$")


DeriveStatus = Literal["solved", "revealed", "failing", "unsolved"]


MistakeKind = Annotated[str, Field(max_length=40, pattern=r"^[a-z0-9_]+$")]
MAX_KINDS = 16  # kinds of mistake reported per node: more than a learner makes at one node


class NodeProgress(Strict):
    status: DeriveStatus
    hints: int = Field(0, ge=0, le=9)
    mistake: MistakeKind | None = Field(None, description="the kind of the last wrong attempt (AttemptPublic.mistake)")
    mistakes: list[MistakeKind] = Field([], max_length=MAX_KINDS,
                                        description="each kind of the node's wrong attempts, once, solved since or not")
    wrong: int = Field(0, ge=0, le=99, description="wrong attempts at the node (capped), solved since or not")


class FollowProgress(Strict):
    """A follower's "Derive it" progress in one mode: what the class view counts."""
    cmd: Literal["progress"]
    mode: DeriveMode
    nodes: dict[NodeName, NodeProgress] = Field(max_length=40)


FollowCommand = Annotated[Union[FollowNickname, FollowProgress], Field(discriminator="cmd")]


class ClassPublic(BaseModel):
    """The teacher's class view: anonymous counts at the node the teacher shows."""
    type: Literal["class"] = "class"
    node: NodeName | None
    mode: DeriveMode
    reporting: int  # followers who sent progress in this mode
    solved: int  # without hints
    hinted: int  # solved after hints
    revealed: int
    trying: int  # last attempt wrong
    first_failing: dict[NodeName, int]  # each follower's first node whose last attempt is wrong
    wrong: int = 0  # followers with a wrong attempt at `node`, solved since or not
    mistake: str | None  # the kind of mistake most followers made at `node` (a first try counts, solved since or not)
    mistake_label: str | None = None  # its name for people (model/mistakes.py label()), e.g. "missing 1/n"
    mistake_count: int  # followers who made it
    nicknames: list[str]  # of the followers who gave one, sorted; never tied to their results


class RoomRows(BaseModel):
    """The dlogits panel's data: the batch, its probabilities, dlogits once known."""
    Xb: Nested
    Yb: list[int]
    probs: Nested
    dlogits: Nested | None


class RoomTensor(TensorBase):
    """The inspected node as the teacher's inspector shows it: the entries of
    the teacher's stream frame (server/stream/inspected.py), as nested lists."""
    absdiff: Nested | None = None  # |grad - autograd's grad|, with the diff view on


class RoomState(BaseModel):
    type: Literal["state"] = "state"
    version: int  # counts the room's states: a follower can tell it has the newest
    config: ConfigPublic
    vocab: list[str]
    n_params: int
    forwarded: bool  # a batch is drawn at this step
    view: RoomViewPublic
    frame: FramePublic
    tensor: RoomTensor | None  # of view.inspect, when it has a value
    rows: RoomRows | None


class RoomTrain(BaseModel):
    """A training-page room's run as the teacher's dashboard has it: sent on
    each play, pause, step or new run, and every few seconds while training
    (the loss curve's real points). Its frames follow as binary stream frames
    (FramePublic header and float32 tensors, server/stream/frames.py), built once per room."""
    type: Literal["train"] = "train"
    version: int
    config: ConfigPublic
    playing: bool  # the teacher's live training runs
    present: bool
    history: HistoryPublic  # thinned to at most ROOM_HISTORY_POINTS


class RoomGraph(BaseModel):
    type: Literal["graph"] = "graph"
    graph: GraphPublic  # for the teacher's session's config


class RoomStatus(BaseModel):
    type: Literal["status"] = "status"
    teacher_connected: bool
    followers: int
    ended: bool = False
    reason: str | None = None  # why it ended, in a sentence


class RoomFork(BaseModel):
    """Everything to rebuild the teacher's session exactly: its snapshot, and
    the batch drawn and the backward position reached since."""
    snapshot: SnapshotPublic
    Xb: Nested | None
    Yb: list[int] | None
    mode: Mode
    pos: int  # backward steps done in this batch


class RoomForked(BaseModel):
    session: SessionPublic
    view: RoomViewPublic
