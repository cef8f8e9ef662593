"""The server tried the way another site's page would (server/guards/security.py):
a rebinding page (foreign Host), a cross-site page (foreign Origin), "simple"
cross-site requests that need no preflight, the stream from a foreign page,
and the access token. Each refusal is a sentence, and nothing changed."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from backprop_ninja.server.app import create_app
from backprop_ninja.server.settings import Settings
from tests.conftest import CLIENT, REPO, free_port, stop_server
from tests.server.conftest import make_client

EVIL = "http://evil.example"


def plain(**settings) -> TestClient:
    """A client that sends only what the test adds: no X-Requested-With."""
    settings.setdefault("allowed_hosts", ["testserver"])
    return TestClient(create_app(Settings(workers=1, **settings)))


@pytest.fixture(scope="module")
def bare():
    with plain() as c:
        yield c


def fresh(c: TestClient) -> str:
    r = c.post("/api/sessions", headers={"X-Requested-With": "test"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def step_of(c: TestClient, sid: str) -> tuple:
    st = c.get(f"/api/sessions/{sid}").json()
    return st["step"], st["loss"], st["computed"]


def test_foreign_host_is_refused_everywhere(bare):
    # DNS rebinding: evil.example resolves to 127.0.0.1, the page's requests say Host: evil.example
    sid = fresh(bare)
    hdr = {"host": "evil.example:8000", "origin": "http://evil.example:8000", "X-Requested-With": "x"}
    for method, path in (("GET", "/"), ("GET", "/api/health"), ("GET", f"/api/sessions/{sid}"),
                         ("POST", "/api/sessions"), ("POST", f"/api/sessions/{sid}/forward")):
        r = bare.request(method, path, headers=hdr)
        assert r.status_code == 400 and "evil.example" in r.json()["detail"], (path, r.text)
        assert "BPN_ALLOWED_HOSTS" in r.json()["detail"]
    assert step_of(bare, sid) == (0, None, [])
    with pytest.raises(WebSocketDisconnect) as err:
        with bare.websocket_connect(f"/api/sessions/{sid}/stream", headers=hdr):
            pass
    assert err.value.code == 1008


@pytest.mark.parametrize("origin", [EVIL, "null", "http://testserver:3000", "https://testserver",
                                    "http://testserver.evil.example"])
def test_foreign_origin_refused(bare, origin):
    sid = fresh(bare)
    h = {"origin": origin, "X-Requested-With": "x"}
    for method, path in (("POST", "/api/sessions"), ("POST", f"/api/sessions/{sid}/forward"),
                         ("DELETE", f"/api/sessions/{sid}"), ("GET", f"/api/sessions/{sid}/snapshot")):
        r = bare.request(method, path, headers=h)
        assert r.status_code == 403, (origin, path, r.text)
        assert "only this server's own pages" in r.json()["detail"]
    assert step_of(bare, sid) == (0, None, [])
    with pytest.raises(WebSocketDisconnect) as err:
        with bare.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": origin}):
            pass
    assert err.value.code == 1008


def test_own_pages_and_scripts_pass(bare):
    sid = fresh(bare)
    h = {"origin": "http://testserver", "X-Requested-With": "backprop-ninja"}
    assert bare.post(f"/api/sessions/{sid}/forward", headers=h).status_code == 200
    assert bare.get(f"/api/sessions/{sid}").status_code == 200  # reads need no header
    with bare.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": "http://testserver"}) as ws:
        ws.send_json({"cmd": "frame"})
        assert ws.receive_json()["type"] == "reply"
    # a script sends no Origin at all
    with bare.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.send_json({"cmd": "frame"})
        assert ws.receive_json()["type"] == "reply"


@pytest.mark.parametrize("kind", ["no body", "text/plain", "form", "json without the header"])
def test_simple_cross_site_requests_change_nothing(bare, kind):
    # what a form or fetch(..., {mode: "no-cors"}) of another site can send
    # without a preflight; some browsers leave Origin out of such requests
    sid = fresh(bare)
    body = {"no body": {}, "text/plain": {"content": b"aaa\nbbb\n" * 20, "headers": {"content-type": "text/plain"}},
            "form": {"data": {"steps": "5"}},
            "json without the header": {"json": {"steps": 5}}}[kind]
    for path in (f"/api/sessions/{sid}/forward", f"/api/sessions/{sid}/train", "/api/datasets",
                 "/api/sessions", f"/api/sessions/{sid}/update"):
        r = bare.post(path, **body)
        assert r.status_code == 403 and "X-Requested-With" in r.json()["detail"], (kind, path, r.text)
    r = bare.delete(f"/api/sessions/{sid}")
    assert r.status_code == 403
    assert step_of(bare, sid) == (0, None, [])
    assert len(bare.app.state.datasets._words) == 1  # only the default


def test_allowed_origins_setting():
    with make_client(allowed_origins="http://class.example:9000", workers=1) as c:
        sid = fresh(c)
        r = c.post(f"/api/sessions/{sid}/forward", headers={"origin": "http://class.example:9000"})
        assert r.status_code == 200
        with c.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": "http://class.example:9000"}) as ws:
            ws.send_json({"cmd": "frame"})
            assert ws.receive_json()["type"] == "reply"
        other_port = {"origin": "http://class.example:9001"}
        assert c.post(f"/api/sessions/{sid}/forward", headers=other_port).status_code == 403


def test_allowed_hosts_setting():
    with plain(allowed_hosts=["class.example"]) as c:
        h = {"host": "class.example:8000", "X-Requested-With": "x"}
        assert c.post("/api/sessions", headers=h).status_code == 201
        assert c.get("/api/health", headers={"host": "other.example"}).status_code == 400


# ---- the token ---------------------------------------------------------------
TOKEN = "s3cret-token-for-the-class"


def test_token_required_when_set():
    with plain(token=TOKEN) as c:
        sid_refused = c.post("/api/sessions", headers={"X-Requested-With": "x"})
        assert sid_refused.status_code == 401 and "?token=" in sid_refused.json()["detail"]
        page = c.get("/", headers={"accept": "text/html"})
        assert page.status_code == 401 and "text/html" in page.headers["content-type"]
        assert "?token=" in page.text and "cookie" in page.text  # says how to get in
        assert c.get("/api/health").status_code == 200  # the container's health check
        assert c.get("/?token=wrong-token-0123456789").status_code == 403
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/api/sessions/x/stream"):
                pass
        # a script: the header
        auth = {"authorization": f"Bearer {TOKEN}", "X-Requested-With": "x"}
        sid = c.post("/api/sessions", headers=auth).json()["id"]
        # the browser: the printed URL sets the cookie and drops the token from the address
        r = c.get(f"/static/train.html?token={TOKEN}&x=1", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/static/train.html?x=1"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert c.cookies.get("bpn_token") == TOKEN
        assert c.get("/static/train.html").status_code == 200
        assert c.post(f"/api/sessions/{sid}/forward", headers={"X-Requested-With": "x"}).status_code == 200
        with c.websocket_connect(f"/api/sessions/{sid}/stream") as ws:  # the cookie goes with it
            ws.send_json({"cmd": "frame"})
            assert ws.receive_json()["type"] == "reply"


def test_loopback_needs_no_token(bare):
    assert bare.app.state.access.token is None
    assert bare.get("/").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_token_made_up_off_loopback(host):
    app = create_app(Settings(host=host, workers=1))
    access = app.state.access
    assert access.token is not None and len(access.token) >= 20
    urls = access.urls(app.state.settings)
    assert all(u.endswith(f"/?token={access.token}") for u in urls)
    if host == "192.0.2.7":
        assert "192.0.2.7" in access.hosts and urls == [f"http://192.0.2.7:8000/?token={access.token}"]


# ---- the real server, bound off loopback ------------------------------------
def own_address() -> str | None:
    """A non-loopback IPv4 address of this machine: connections to it from
    here stay inside the machine."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out.stdout)
    return found[0] if found else None


@pytest.fixture(scope="module")
def shared_server():
    """`python -m backprop_ninja.server --host <this machine's address>`: (base URL, its log)."""
    addr = own_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="bpn-shared-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "backprop_ninja.server", "--host", addr, "--port", str(port), "--no-open"],
                            cwd=REPO, env=os.environ, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://{addr}:{port}"
    try:
        deadline = time.monotonic() + 60
        while "?token=" not in Path(log.name).read_text():
            assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
                time.sleep(0.1)
        yield base, Path(log.name).read_text()
    finally:
        stop_server(proc, log.name)


def test_off_loopback_the_token_is_required(shared_server):
    base, log = shared_server
    url = re.search(r"(http://\S+/\?token=(\S+))", log)
    assert url and url.group(1).startswith(base), log  # printed as a ready-to-open address
    token = url.group(2)
    # without it: refused, and a browser is told how to get in
    assert httpx.post(f"{base}/api/sessions", headers=CLIENT).status_code == 401
    page = httpx.get(f"{base}/", headers={"accept": "text/html"})
    assert page.status_code == 401 and "?token=" in page.text
    ws_url = base.replace("http", "ws") + "/api/sessions/x/stream"
    with pytest.raises(InvalidStatus) as err:
        connect(ws_url).close()
    assert err.value.response.status_code == 403
    # opening the printed address: a cookie, then the pages, the API and the stream work
    with httpx.Client(base_url=base, headers=CLIENT, timeout=30) as c:
        r = c.get(url.group(1), follow_redirects=False)
        assert r.status_code == 303 and c.cookies.get("bpn_token") == token
        assert c.get("/").status_code == 200
        sid = c.post("/api/sessions", json={"n_hidden": 8}).json()["id"]
        cookie = f"bpn_token={token}"
        with connect(base.replace("http", "ws") + f"/api/sessions/{sid}/stream",
                     additional_headers={"Cookie": cookie}, origin=base) as ws:
            ws.send(json.dumps({"cmd": "forward"}))
            assert json.loads(ws.recv())["type"] == "reply"
        # another machine's name for it: refused like any rebinding page
        assert c.get("/api/health", headers={"host": f"evil.example:{base.rsplit(':', 1)[1]}"}).status_code == 400


def test_readme_curl_recipe(live_server):
    """The curl line of docs/api.md (once the README's) for a request that changes state works as written."""
    import shlex
    line = re.search(r"`(curl -X POST -H 'X-Requested-With[^`]+)`", (REPO / "docs" / "api.md").read_text()).group(1)
    cmd = shlex.split(line.replace("http://127.0.0.1:8000", live_server))
    out = subprocess.run([*cmd, "-s"], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout).get("config", {}).get("n_hidden") == 64, (cmd, out.stdout)
