"""How the server starts its child processes (the training workers and the
sandbox's zygote): `python -P -m <module> FD ...`, FD one end of a socket
pair that both sides wrap as a `multiprocessing.connection.Connection`.

-P (Python's safe-path mode): the current directory is not put on the
child's sys.path. A learner who starts the server from their own folder,
holding a `model.py`, `torch.py` or `backprop_ninja.py` of their own, would
otherwise have it imported by the child in place of ours; with -P every
child finds everything through the installed package. The sandbox's
children are forks of the zygote and inherit its sys.path."""
from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection


def start(module: str, *args: str) -> tuple[subprocess.Popen, Connection]:
    """Run `module` in a new process; (the process, our end of its connection)."""
    ours, theirs = socket.socketpair()
    with theirs:
        proc = subprocess.Popen([sys.executable, "-P", "-m", module, str(theirs.fileno()), *args],
                                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
    return proc, Connection(ours.detach())


def connection() -> Connection:
    """In the child: its end of the connection (the first argument)."""
    return Connection(int(sys.argv[1]))
