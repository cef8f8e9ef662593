"""`backprop-ninja`: run the app under uvicorn.

`python -m backprop_ninja.server` runs the same, with the current folder
first on the server's sys.path (the tests start it so, from the repository)."""
from __future__ import annotations

import argparse
import errno
import importlib.util
import socket
import sys
import threading
import webbrowser

import torch

from backprop_ninja.model.data import DataError

EXIT_USAGE = 2
# the modules of pyproject.toml's `server` extra: a notebook install
# (backprop-ninja[notebook]) has the program but not these
SERVER_EXTRA = ("fastapi", "uvicorn", "websockets", "pydantic", "pydantic_settings", "plotly",
                "latex2mathml", "segno", "redis")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="backprop-ninja", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--data", default=None, help="word list, one word a line (default: built-in names)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    return p.parse_args(argv)


def fail(message: str) -> None:
    print(f"backprop-ninja: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def require_server_extra() -> None:
    """One sentence, not an ImportError's traceback, when the web app's packages are missing."""
    missing = [m for m in SERVER_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"the web app needs the packages of the `server` extra ({', '.join(missing)} missing here): "
             'install it with pip install "backprop-ninja[server]"')


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts: a port in use is
    one sentence and a non-zero exit, not uvicorn's errno and a traceback."""
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host.strip("[]"), port), family=family)
        # Nagle off, for every connection accepted on it (Linux hands the flag on;
        # asyncio sets it only on sockets made with proto=IPPROTO_TCP, and this one
        # has proto 0): else a response's body, written after its headers, or a
        # frame after its reply, waits up to 40 ms for the client's delayed ACK
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except socket.gaierror:
        fail(f"--host {host}: not an address or a name this machine can resolve")
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use on {host} (another backprop-ninja still running?): "
                 f"start with --port {port + 1 if port < 65535 else 8001}, or stop the program that holds it")
        if err.errno == errno.EACCES:
            fail(f"port {port} needs more privileges than this user has: use a port above 1023, e.g. --port 8000")
        fail(f"cannot listen on {host}:{port}: {err.strerror}")


def main(argv=None) -> None:
    args = parse_args(argv)
    require_server_extra()
    # many small tensors: one thread is fastest, and leaves cores to other sessions
    torch.set_num_threads(1)
    import uvicorn
    from pydantic import ValidationError

    from .app import create_app
    from .schemas.common import MAX_WS_MESSAGE
    from .settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("data", args.data)) if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as err:  # a bad flag or BPN_* variable
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()))
    sock = listen(settings.host, settings.port)
    # --port 0: the port the system picked, in every address printed
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    try:
        app = create_app(settings)
    except DataError as err:
        fail(str(err))
    settings, access = app.state.settings, app.state.access
    urls = access.urls(settings)  # with ?token= when one is needed
    if not args.no_open:
        opener = threading.Timer(1.0, webbrowser.open, (urls[0],))  # after uvicorn has bound
        opener.daemon = True
        opener.start()
    print(f"backprop-ninja: serving on http://{settings.host}:{settings.port}/", file=sys.stderr, flush=True)
    if access.token is not None:
        print("backprop-ninja: it asks for its access token (bound off loopback, or BPN_TOKEN set); open",
              *(f"  {u}" for u in urls), sep="\n", file=sys.stderr, flush=True)
    # deflate off: frames are mostly float32 noise, compressing them costs more than it saves
    # ws_max_size: a bigger stream message is closed (1009) before it is read
    # whole; up to it, one too big for a command gets an error frame
    config = uvicorn.Config(app, ws_per_message_deflate=False, ws_max_size=16 * MAX_WS_MESSAGE,
                            access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
