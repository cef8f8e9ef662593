"""The memory budget against what the server really takes (server/guards/budget.py).

Starts the real server, does the costliest things the API allows one by one
(a session at the largest config with its full atomic backward and autograd
check, the largest tensor answer, a 5 MB word list of tiny words built at
block 16, a snapshot import at the largest config) and prints, for each, the
budget's estimate and the server's measured peak and kept RSS (kernel
VmHWM, reset before each step), then RSS after the session is deleted.
Estimates at or above the peaks keep the server's RSS under its budget.
A benchmark: it prints, it does not assert.

    .venv/bin/python -m benchmarks.memory_bench
"""
from __future__ import annotations

import sys
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.server.guards import budget  # noqa: E402
from backprop_ninja.server.settings import Settings  # noqa: E402
from benchmarks.live import CLIENT, children, start_server  # noqa: E402

MAX = {"n_hidden": 1024, "batch_size": 4096, "block_size": 16, "n_embd": 64}
MB = 2**20


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


class Probe:
    def __init__(self, pid: int):
        self.pid = pid
        print(f"{'step':58s} {'estimate':>9s} {'peak +':>9s} {'kept +':>9s}  (MB, server process)")

    def __call__(self, what: str, estimate: int | None, fn):
        reset_peak(self.pid)
        before = status(self.pid, "VmRSS")
        out = fn()
        peak, after = status(self.pid, "VmHWM") - before, status(self.pid, "VmRSS") - before
        est = f"{estimate / MB:9.0f}" if estimate is not None else f"{'':>9s}"
        print(f"{what:58s} {est} {peak / MB:9.0f} {after / MB:9.0f}", flush=True)
        return out


def main() -> None:
    torch.set_num_threads(1)
    proc, base = start_server(env={"BPN_MEMORY_BUDGET_MB": "20000"})
    settings = Settings()
    c = httpx.Client(base_url=base, headers=CLIENT, timeout=600)
    probe = Probe(proc.pid)
    try:
        print(f"server at start: {status(proc.pid, 'VmRSS') / MB:.0f} MB")
        from backprop_ninja.model import Config
        cfg = Config(**MAX)
        sid = probe("create a max-config session", budget.session_cost(cfg, 27, settings),
                    lambda: c.post("/api/sessions", json=MAX).json()["id"])
        probe("  forward, full atomic backward, autograd check", None,
              lambda: (c.post(f"/api/sessions/{sid}/forward"), c.post(f"/api/sessions/{sid}/backward", json={})))
        probe("  GET tensors/hprebn?reference=true", budget.tensor_cost(cfg, 27, "hprebn", True),
              lambda: len(c.get(f"/api/sessions/{sid}/tensors/hprebn?reference=true").content))
        probe("  GET snapshot", budget.snapshot_cost(cfg, 27, 0),
              lambda: c.get(f"/api/sessions/{sid}/snapshot").content)
        snap = c.get(f"/api/sessions/{sid}/snapshot").content
        probe("  train 5 fused steps", None, lambda: c.post(f"/api/sessions/{sid}/train", json={"steps": 5}))
        probe("  DELETE the session", None, lambda: c.delete(f"/api/sessions/{sid}"))
        probe(f"POST import of that snapshot ({len(snap) / MB:.0f} MB body)",
              budget.body_cost(len(snap)) + budget.session_cost(cfg, 27, settings),
              lambda: c.post("/api/sessions/import", content=snap,
                             headers={"content-type": "application/json"}).json()["id"])
        # a 5 MB list of 1.7 M words of two letters: the most examples an upload gives
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = [a + b for a in letters for b in letters]
        text = "\n".join(words[i % len(words)] for i in range(1_747_000)).encode()[: 5 * MB]
        n_words = text.count(b"\n") + 1
        ds = probe(f"POST a word list of {len(text) / MB:.1f} MB ({n_words} words)",
                   2 * budget.words_cost(n_words, len(text)),
                   lambda: c.post("/api/datasets", content=text).json()["id"])
        small = {"n_hidden": 8, "batch_size": 32, "block_size": 16, "n_embd": 2, "dataset": ds}
        sid2 = probe("  create a tiny session on it at block_size 16 (builds it)",
                     budget.examples_cost(3 * n_words, 16, building=True),
                     lambda: c.post("/api/sessions", json=small).json()["id"])
        probe("  DELETE that session (its examples go with it)", None, lambda: c.delete(f"/api/sessions/{sid2}"))
        print(f"server at the end: {status(proc.pid, 'VmRSS') / MB:.0f} MB; child processes (training workers, sandbox) "
              + ", ".join(f"{status(p, 'VmRSS') / MB:.0f} MB" for p in children(proc.pid)))
    finally:
        c.close()
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
