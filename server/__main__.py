"""`backprop-ninja` / `python -m server`: run the app under uvicorn."""
from __future__ import annotations

import argparse
import sys
import threading
import webbrowser

import torch
from pydantic import ValidationError

from model.data import DataError

EXIT_USAGE = 2


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="backprop-ninja", description=__doc__)
    p.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--data", default=None, help="word list, one word a line (default: built-in names)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    return p.parse_args(argv)


def fail(message: str) -> None:
    print(f"backprop-ninja: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def main(argv=None) -> None:
    args = parse_args(argv)
    # many small tensors: one thread is fastest, and leaves cores to other sessions
    torch.set_num_threads(1)
    import uvicorn

    from .app import create_app
    from .schemas import MAX_WS_MESSAGE
    from .settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("data", args.data)) if v is not None}
    try:
        app = create_app(Settings(**overrides))
    except DataError as err:
        fail(str(err))
    except ValidationError as err:  # a bad flag or BPN_* variable
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()))
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
    uvicorn.run(app, host=settings.host, port=settings.port, ws_per_message_deflate=False,
                ws_max_size=16 * MAX_WS_MESSAGE, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
