"""Another site's page in real Chromium, against the real server: it cannot
drive a session of the user's (cross-site requests, forms, WebSockets), and
a rebinding name resolved to 127.0.0.1 is refused. And off loopback, the
printed address with its token lets the browser in: page, API and stream."""
from __future__ import annotations

import httpx
import pytest

from pagekit import READY, wait_drawn
from tests.conftest import CLIENT
from tests.server.guards.test_security import shared_server  # noqa: F401 - the fixture

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

EVIL_PAGE = """<!doctype html><title>a page of another site</title><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" target="sink" enctype="text/plain" action="{base}/api/sessions/{sid}/train">
  <input name='{{"steps": 5, "x": "' value='"}}'></form>
<script>
window.tried = (async () => {{
  const out = {{}};
  const attempt = async (name, url, init) => {{
    try {{ const r = await fetch(url, init); out[name] = r.type === 'opaque' ? 'opaque' : r.status; }}
    catch (e) {{ out[name] = 'blocked'; }}
  }};
  await attempt('forward', '{base}/api/sessions/{sid}/forward', {{ method: 'POST', mode: 'no-cors' }});
  await attempt('upload', '{base}/api/datasets', {{ method: 'POST', mode: 'no-cors',
    headers: {{ 'content-type': 'text/plain' }}, body: 'ann\\nbob\\neve\\nmax\\nzoe\\nliv\\nkim\\namy\\nian\\njoe' }});
  await attempt('create', '{base}/api/sessions', {{ method: 'POST', mode: 'no-cors' }});
  await attempt('with-header', '{base}/api/sessions/{sid}/forward', {{ method: 'POST',
    headers: {{ 'X-Requested-With': 'evil' }} }});  // needs a preflight the server never approves
  document.getElementById('f').submit();
  out.ws = await new Promise((resolve) => {{
    const ws = new WebSocket('{ws}/api/sessions/{sid}/stream');
    ws.onopen = () => {{ ws.send(JSON.stringify({{ cmd: 'forward' }})); resolve('open'); }};
    ws.onerror = () => resolve('refused');
  }});
  await new Promise((r) => setTimeout(r, 500));  // the form's answer
  return out;
}})();
</script>"""


def test_cross_site_page_changes_nothing(page, live_server):
    sid = httpx.post(f"{live_server}/api/sessions", json={"n_hidden": 8}, headers=CLIENT).json()["id"]
    html = EVIL_PAGE.format(base=live_server, sid=sid, ws=live_server.replace("http", "ws"))
    page.route("http://evil.example/**", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto("http://evil.example/")
    tried = page.evaluate("window.tried")
    assert tried["ws"] == "refused", tried
    assert tried["with-header"] == "blocked", tried
    st = httpx.get(f"{live_server}/api/sessions/{sid}").json()
    assert (st["step"], st["loss"], st["computed"]) == (0, None, []), st  # no forward, no train


@pytest.fixture
def rebinding_browser(browser_type):
    # evil.example resolves to 127.0.0.1, as after a DNS rebinding
    browser = browser_type.launch(executable_path="/usr/bin/chromium",
                                  args=[*ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
    yield browser
    browser.close()


def test_rebinding_name_is_refused(rebinding_browser, live_server):
    port = live_server.rsplit(":", 1)[1]
    page = rebinding_browser.new_page()
    r = page.goto(f"http://evil.example:{port}/")
    assert r.status == 400 and "does not answer to the host name" in page.content()
    got = page.evaluate("""async () => {
      const r = await fetch('/api/sessions', {method: 'POST', headers: {'X-Requested-With': 'evil'}});
      return [r.status, (await r.json()).detail];
    }""")
    assert got[0] == 400 and "evil.example" in got[1]


def test_token_url_lets_the_browser_in(page, shared_server, shots):  # noqa: F811
    base, log = shared_server
    url = next(w for w in log.split() if "?token=" in w and w.startswith(base))
    r = page.goto(f"{base}/", wait_until="load")
    assert r.status == 401 and "access token" in page.content()
    page.screenshot(path=str(shots / "token_needed.png"))
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    page.goto(url)
    # the token left the address bar (the page may have written its view there already)
    assert page.url.split("?")[0] == f"{base}/" and "token" not in page.url
    page.wait_for_function(READY, timeout=30_000)
    wait_drawn(page)
    page.keyboard.press("ArrowRight")  # one backward step, over the stream
    wait_drawn(page, 1)
    assert frames, "the stream carried the step"
    page.screenshot(path=str(shots / "token_opened.png"))
