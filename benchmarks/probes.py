"""Issue 13's probes, sent as an attacker's page or a careless client would,
to the server of a source tree (default: this one); prints each probe and
the answer. It prints and does not assert: tests/server/guards/test_security.py,
test_strict_inputs.py and test_budget.py assert the behaviour.

    .venv/bin/python benchmarks/probes.py [TREE]   # TREE: e.g. `git archive` of an older commit
"""
from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import trees  # noqa: E402

TREE = sys.argv[1] if len(sys.argv) > 1 else str(trees.REPO)
CLIENT = {"X-Requested-With": "probe"}  # what the front end sends; the probes leave it out where it matters
WORDS = b"ann\nbob\neve\nmax\nzoe\nliv\nkim\namy\nian\njoe\n"


def start(host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd, env, cwd = trees.server(Path(TREE))
    proc = subprocess.Popen([*cmd, "--host", host, "--port", str(port), "--no-open"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{host}:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def show(probe: str, answer) -> None:
    if isinstance(answer, httpx.Response):
        text = answer.text
        if answer.headers.get("content-type", "").startswith("application/json"):
            text = str(answer.json().get("detail", "")) if isinstance(answer.json(), dict) else text
        answer = f"{answer.status_code} {text[:110]!r}"
    print(f"{probe:55s} | {answer}", flush=True)


def stream_probes(base: str, sid: str) -> None:
    port = base.rsplit(":", 1)[1]
    probe = "WebSocket, Host = Origin = evil.example (rebinding)"
    try:  # the name as a rebinding page has it, the socket to this machine
        sock = socket.create_connection(("127.0.0.1", int(port)))
        with connect(f"ws://evil.example:{port}/api/sessions/{sid}/stream", origin=f"http://evil.example:{port}",
                     sock=sock) as ws:
            ws.send(json.dumps({"cmd": "forward"}))
            show(probe, "accepted: " + ws.recv()[:40])
    except Exception as err:  # noqa: BLE001 - the refusal is the answer
        show(probe, f"refused ({type(err).__name__} {getattr(getattr(err, 'response', None), 'status_code', '')})")
    probe = "WebSocket text of 60,000 '['"
    try:
        with connect(base.replace("http", "ws") + f"/api/sessions/{sid}/stream") as ws:
            ws.send("[" * 60_000)
            show(probe, "frame: " + ws.recv()[:100])
    except Exception as err:  # noqa: BLE001
        show(probe, f"connection dropped ({type(err).__name__})")
    probe = "WebSocket text of 64 KB of \\\" (no string closes)"
    try:  # a scanner that retried each quote as a string's start took ~10^9 steps on the event loop
        with connect(base.replace("http", "ws") + f"/api/sessions/{sid}/stream") as ws:
            start = time.perf_counter()
            ws.send('\\"' * (32 * 1024 - 1))
            answer = ws.recv()[:60]
            show(probe, f"frame after {time.perf_counter() - start:.3f} s: {answer}")
    except Exception as err:  # noqa: BLE001
        show(probe, f"connection dropped ({type(err).__name__})")


def import_probes(base: str, snap: dict) -> None:
    def broken(probe: str, change) -> None:
        s = copy.deepcopy(snap)
        change(s)
        with httpx.Client(base_url=base, timeout=120) as c:  # a 500 used to reset the connection
            show(probe, c.post("/api/sessions/import", content=json.dumps(s, allow_nan=True),
                               headers={"content-type": "application/json", **CLIENT}))
    broken("import: missing params.W1", lambda s: s["params"].pop("W1"))
    broken("import: running_mean of the wrong shape", lambda s: s.update(running_mean=[[0.0] * 7]))
    broken("import: step 2^70", lambda s: s.update(step=2**70))
    broken("import: step -5", lambda s: s.update(step=-5))
    broken("import: NaN in params.C", lambda s: s["params"]["C"][0].__setitem__(0, float("nan")))
    broken("import: true in params.C", lambda s: s["params"]["C"][0].__setitem__(0, True))
    broken("import: false config.vocab_size", lambda s: s["config"].update(vocab_size=99))
    broken("import: n_hidden 5000 (the error's text)", lambda s: s["config"].update(n_hidden=5000))


def main() -> None:
    proc, base = start()
    try:
        c = httpx.Client(base_url=base, timeout=120)
        sid = c.post("/api/sessions", json={"n_hidden": 8}, headers=CLIENT).json()["id"]
        port = base.rsplit(":", 1)[1]
        rebind = {"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}", **CLIENT}
        show("rebinding: Host+Origin evil.example, POST /api/sessions", c.post("/api/sessions", headers=rebind))
        show("foreign Origin, POST /sessions/{id}/forward",
             c.post(f"/api/sessions/{sid}/forward", headers={"origin": "http://evil.example", **CLIENT}))
        show("simple cross-site: body-less POST /forward", c.post(f"/api/sessions/{sid}/forward"))
        show("simple cross-site: text/plain POST /api/datasets",
             c.post("/api/datasets", content=WORDS, headers={"content-type": "text/plain"}))
        stream_probes(base, sid)
        other = c.post("/api/sessions", json={"n_hidden": 8}, headers=CLIENT).json()["id"]
        c.post(f"/api/sessions/{other}/train", json={"steps": 3}, headers=CLIENT)
        show('seek {"step": false}', c.post(f"/api/sessions/{other}/seek", json={"step": False}, headers=CLIENT))
        show('train {"steps": "2"}', c.post(f"/api/sessions/{other}/train", json={"steps": "2"}, headers=CLIENT))
        json_body = {"content-type": "application/json", **CLIENT}
        show("non-UTF-8 JSON body", c.post("/api/sessions", content=b'{"seed": "\xff"}', headers=json_body))
        show("40 MB JSON body to POST /api/sessions",
             c.post("/api/sessions", content=b'{"x": "' + b"a" * (40 * 2**20) + b'"}', headers=json_body))
        import_probes(base, c.get(f"/api/sessions/{other}/snapshot").json())
    finally:
        proc.terminate()
        proc.wait()
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout)
    if not found:
        print("(no non-loopback address here: the token probes are left out)")
        return
    proc, base = start(found[0])
    try:
        show(f"bound to {found[0]}: POST /api/sessions, no token", httpx.post(f"{base}/api/sessions", headers=CLIENT))
        show(f"bound to {found[0]}: GET / (a browser), no token",
             httpx.get(f"{base}/", headers={"accept": "text/html"}))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
