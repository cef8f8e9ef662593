"""The val loss of live training, in a process of its own, beside the training
process (`python -m server.valloss CPUS NICE`, started by trainer.py when it
starts: CPUS, comma-separated, are those off the training core; NICE is the
server's, which it goes back to from the trainer's -10).

Why: the val loss is a forward pass over the whole val split, ~30 steps'
worth of time. Inline, every 1000 steps, it cost training ~3.5%. In a thread
of the training process it cost more than it saved: the training thread
waited for the interpreter lock ~6% of its time (measured with py-spy). Here
it shares nothing with training but the machine, and runs on the other CPUs.

Protocol, both ways: [uint32 LE length][pickle] (pipes.py).
  trainer -> here: ("model", sid, config, Dataset) (its val split only; before a
                   session's first val loss), ("val", sid, step, light_state), ("drop", sid)
  here -> trainer: ("ready",), ("val", sid, step, loss)
The losses come back in the order asked."""
from __future__ import annotations

import os
import pickle
import sys

import torch

from model import MLP

from . import pipes


def val_loss(m: MLP, state: dict) -> float:
    """The val loss of the model whose light_state is `state` (m: any model of that config and data)."""
    m.load_state_dict(state)
    return m.split_loss("val", "running")


def main() -> None:
    torch.set_num_threads(1)
    cpus = {int(c) for c in sys.argv[1].split(",") if c} if len(sys.argv) > 1 else set()
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as err:
            print(f"val loss process: not kept to CPUs {sorted(cpus)} ({err})", file=sys.stderr)
    if len(sys.argv) > 2 and hasattr(os, "setpriority"):
        # the trainer's priority is for the trainer alone (raising a nice value is always allowed)
        os.setpriority(os.PRIO_PROCESS, 0, max(int(sys.argv[2]), os.getpriority(os.PRIO_PROCESS, 0)))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but messages may reach the pipe
    models: dict[str, MLP] = {}
    pipes.write(stdout, pickle.dumps(("ready",)))
    while (raw := pipes.read(stdin)) is not None:
        msg = pickle.loads(raw)
        if msg[0] == "model":
            _, sid, cfg, data = msg
            models[sid] = MLP(cfg, data)
        elif msg[0] == "drop":
            models.pop(msg[1], None)
        elif msg[0] == "val":
            _, sid, step, state = msg
            try:
                loss = val_loss(models[sid], state)
            except Exception as err:  # noqa: BLE001 - one bad job must not end the others
                print(f"val loss process: step {step} of {sid[:8]} failed: {err!r}", file=sys.stderr)
                loss = float("nan")
            pipes.write(stdout, pickle.dumps(("val", sid, step, loss), protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main()
