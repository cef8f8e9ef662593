"""Server settings: command-line flags override these, which read BPN_* env vars."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_data_dir() -> Path:
    """Where uploaded word lists are kept: the user's data directory (XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "backprop-ninja"


def default_workers() -> int:
    """Training workers: one per CPU this server may use, less one for the server and the browser; at least one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus - 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPN_", extra="ignore")

    # loopback unless told otherwise: the API runs arbitrary training on request
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # word list used as the "default" data set; None = built-in census names
    data: Path | None = None
    max_sessions: int = Field(64, ge=1)
    idle_ttl: float = Field(3600.0, gt=0, description="seconds before an unused session is dropped")
    # uploaded word lists live on disk here, by content (datasets.py): links
    # to them survive a restart; at most datasets_max_mb, least used deleted first
    data_dir: Path = Field(default_factory=default_data_dir)
    datasets_max_mb: int = Field(256, ge=8)
    # uploaded word lists held in memory at once (others are read from disk again)
    max_datasets: int = Field(32, ge=1)
    # full parameter snapshots (seek targets): the last K steps, under a byte cap
    history_full_steps: int = Field(200, ge=1)
    history_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # live training clones the parameters every N steps only; seek replays the rest
    snapshot_every: int = Field(25, ge=1)
    # a shared link's training, kept for the next replay of the same link (trajectories.py)
    replay_cache_mb: int = Field(64, ge=0)
    # per-step summaries (loss, lr, ...): oldest dropped beyond this many
    history_max_points: int = Field(200_000, ge=100)
    # saturation and update:data ratios cost ~30% of a training step, so live
    # training records them every N steps and with every frame it sends
    # (manual updates always record them)
    stats_every: int = Field(100, ge=1)
    # training worker processes for live training (pool.py): by default one
    # per CPU this server may use, less one for the server itself
    workers: int = Field(default_factory=default_workers, ge=1, le=256)
    # who may talk to the server (security.py). Host names it answers to
    # besides the loopback ones (and, bound off loopback, this machine's name
    # and the bound address), e.g. the class server's name as students type it
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # pages of other origins that may drive it (its own pages always may)
    allowed_origins: Annotated[list[str], NoDecode] = []
    # the access token; None: none on loopback, a random one printed at start
    # when bound to any other address. Set, it is required on loopback too
    token: str | None = Field(None, min_length=16, pattern=r"^[A-Za-z0-9_\-]+$")
    # what every session, data set and response may take together (budget.py);
    # None: half of this machine's memory (or of the container's limit)
    memory_budget_mb: int | None = Field(None, ge=256)

    # rooms (rooms/hub.py): with a Redis URL, rooms span every server process using
    # that Redis (redis://host:6379/0); without, they live in this process
    redis_url: str | None = None
    # seconds a room outlives its teacher's page (a reload or a lost network resumes within it)
    room_timeout: float = Field(600.0, gt=0)
    # unknown room codes one client address may try a minute (then 429): 2^50 codes make guessing hopeless
    room_misses_per_minute: int = Field(20, ge=1)

    @field_validator("allowed_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split(cls, v):
        # env vars come as "http://a:1,http://b:2"; lists pass through
        if isinstance(v, str):
            return [s.strip().rstrip("/").lower() for s in v.split(",") if s.strip()]
        return v
