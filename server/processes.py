"""How the server starts its child processes (the training workers and the
sandbox's zygote): `python -P -m <module> FD ...`, FD one end of a socket
pair that both sides wrap as a `multiprocessing.connection.Connection`.

-P (Python's safe-path mode): the current directory is not put on the
child's sys.path. A learner who starts the server from their own folder,
holding a `model.py`, `torch.py` or `backprop_ninja.py` of their own, would
otherwise have it imported by the child in place of ours; with -P every
child finds everything through the installed package. An empty or relative
entry of PYTHONPATH names the current directory too (`PYTHONPATH=$PYTHONPATH:/x`
with PYTHONPATH unset leaves one), so the children get PYTHONPATH without
them. The sandbox's children are forks of the zygote and inherit its sys.path."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection


def child_env() -> dict[str, str]:
    """This process's environment, with PYTHONPATH's empty and relative entries dropped."""
    env = dict(os.environ)
    if "PYTHONPATH" in env:
        kept = [p for p in env.pop("PYTHONPATH").split(os.pathsep) if os.path.isabs(p)]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
    return env


def start(module: str, *args: str) -> tuple[subprocess.Popen, Connection]:
    """Run `module` in a new process; (the process, our end of its connection)."""
    ours, theirs = socket.socketpair()
    with theirs:
        try:
            proc = subprocess.Popen([sys.executable, "-P", "-m", module, str(theirs.fileno()), *args],
                                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True,
                                    env=child_env())
        except BaseException:
            ours.close()
            raise
    return proc, Connection(ours.detach())


def connection() -> Connection:
    """In the child, first thing: its end of the connection (the first
    argument). Ctrl+C in the server's terminal reaches the whole process
    group; a child ignores it and ends when the server closes the
    connection on its own way out, instead of printing a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return Connection(int(sys.argv[1]))
