"""Word lists as a user meets them in the browser: a link that outlives a
restart, a link whose list the server has not got (upload it again, or the
built-in names), a Latin-1 file refused with the CLI's sentence, an upload's
progress; and the sentences for a server that stopped and a wrong snapshot."""
from __future__ import annotations

import random
import re

import pytest
from pagekit import READY, open_view, state, status, wait_drawn

from tests.conftest import free_port, start_server, stop_server, wait_healthy

WORDS = "\n".join(["ann", "bob", "eve", "max", "zoe", "liv", "kim", "amy", "ian", "joe", "ada", "ben"]) + "\n"


class Server:
    """One `python -m backprop_ninja.server` with its own data directory; start/stop at will."""

    def __init__(self, data_dir):
        self.data_dir, self.proc, self.base = data_dir, None, None

    def start(self):
        port = free_port()
        self.proc, self.log = start_server(port, {"BPN_DATA_DIR": str(self.data_dir), "BPN_WORKERS": "1"})
        self.base = f"http://127.0.0.1:{port}"
        wait_healthy(self.base, self.proc, self.log)
        return self

    def stop(self):
        if self.proc is not None:
            stop_server(self.proc, self.log)
            self.proc = None


@pytest.fixture
def servers(tmp_path):
    made = []

    def make(name):
        made.append(Server(tmp_path / name))
        return made[-1]
    yield make
    for s in made:
        s.stop()


def toast_text(page, pattern: str) -> str:
    page.wait_for_function("(p) => new RegExp(p).test(document.getElementById('toast').textContent)", arg=pattern)
    return page.get_by_test_id("toast").inner_text()


def relink(url: str, base: str) -> str:
    return re.sub(r"^http://127\.0\.0\.1:\d+", base, url)


def test_a_link_outlives_a_restart_and_a_missing_list_can_be_uploaded_again(page, servers, tmp_path, shots):
    friends = tmp_path / "friends.txt"
    friends.write_text(WORDS)
    a = servers("data").start()
    open_view(page, a.base)
    page.get_by_test_id("upload").set_input_files(str(friends))
    page.wait_for_function("() => window.__bpn.state.config.dataset !== 'default' && window.__bpn.ready && !window.__bpn.state.busy")
    chars = len(set(WORDS) - {"\n"}) + 1  # and the '.' marker
    assert page.get_by_test_id("dataset-name").inner_text() == f"friends.txt: 12 words, {chars} characters"
    page.keyboard.press("f")
    wait_drawn(page, 0)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_drawn(page, 2)
    page.wait_for_function("() => /pos=2/.test(window.location.search)")
    link = page.url
    a.stop()

    b = Server(a.data_dir).start()  # restarted, same data directory: the link opens as it was
    try:
        page.goto(relink(link, b.base))
        page.wait_for_function(READY, timeout=30_000)
        wait_drawn(page, 2)
        assert page.get_by_test_id("dataset-name").inner_text().startswith("friends.txt")
        assert state(page, "session")["vocab"][:3] == [".", "a", "b"]
        assert page.get_by_test_id("dataset-missing").is_hidden()
    finally:
        b.stop()

    c = servers("elsewhere").start()  # another machine: it has not got the list
    page.goto(relink(link, c.base))
    notice = page.get_by_test_id("dataset-missing")
    notice.wait_for(state="visible")
    assert "does not have" in notice.inner_text() and "Upload the same file again" in notice.inner_text()
    assert page.get_by_test_id("use-default").is_visible()
    page.screenshot(path=str(shots / "dataset_missing.png"), full_page=False)
    page.keyboard.press("ArrowRight")  # nothing to step: a sentence, not a TypeError
    assert "Nothing to step yet" in toast_text(page, "Nothing to step")
    page.get_by_test_id("upload-again").set_input_files(str(friends))
    page.wait_for_function(READY, timeout=30_000)
    wait_drawn(page, 2)  # the link's own place: the same words got the same id
    assert notice.is_hidden()
    assert state(page, "config")["dataset"] in link and status(page, "pos").startswith("2/")
    # and always a way back to the built-in names
    page.get_by_test_id("dataset-default").click()
    page.wait_for_function("() => window.__bpn.state.config.dataset === 'default' && window.__bpn.ready && !window.__bpn.state.busy")
    assert page.get_by_test_id("dataset-name").inner_text().startswith("US census first names")
    assert page.get_by_test_id("dataset-default").is_hidden() and "dataset=" not in page.url


def test_a_missing_list_offers_the_builtin_names(page, live_server):
    page.goto(f"{live_server}/?dataset={'0' * 32}&step=3&pos=1")
    page.get_by_test_id("dataset-missing").wait_for(state="visible")
    page.get_by_test_id("use-default").click()
    page.wait_for_function("() => window.__bpn.ready && !window.__bpn.state.busy && window.__bpn.state.config.dataset === 'default'")
    assert page.get_by_test_id("dataset-missing").is_hidden()
    assert state(page, "session")["vocab"][:2] == [".", "a"]


def test_a_latin1_file_is_refused_with_the_command_lines_sentence(page, live_server, tmp_path):
    open_view(page, live_server)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ann\nbob\nrené\n".encode("latin-1") + WORDS.encode())
    page.get_by_test_id("upload").set_input_files(str(latin))
    said = toast_text(page, "UTF-8")
    assert said == "latin.txt, line 3: bytes that are not UTF-8 text (byte 11); save the file as UTF-8"
    assert state(page, "config")["dataset"] == "default"
    assert page.get_by_test_id("upload-progress").is_hidden()


def test_a_300k_word_upload_shows_its_progress(page, live_server, tmp_path):
    rng = random.Random(5)
    big = tmp_path / "many.txt"
    big.write_text("\n".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
                             for _ in range(300_000)) + "\n")
    open_view(page, live_server)
    page.evaluate("""() => {
      window.__phases = [];
      const el = document.querySelector('[data-testid=upload-phase]');
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) window.__phases.push(n.textContent);
      }).observe(el, { childList: true });
    }""")
    page.get_by_test_id("upload").set_input_files(str(big))
    page.wait_for_function("() => window.__bpn.state.config.dataset !== 'default' && window.__bpn.ready && !window.__bpn.state.busy",
                           timeout=120_000)
    phases = page.evaluate("() => window.__phases")
    assert phases[0].startswith("Sending many.txt: 0% of 2.") and "MB" in phases[0], phases
    assert any(p.startswith("Checking the words of many.txt") for p in phases), phases
    assert phases[-1] == "Building the examples of 300,000 words and a fresh network…", phases
    assert page.get_by_test_id("upload-progress").is_hidden()
    assert page.get_by_test_id("dataset-name").inner_text().startswith("many.txt: 300,000 words")


def test_a_server_that_stopped_is_said_so(page, servers, shots):
    s = servers("data").start()
    open_view(page, s.base)
    s.stop()
    page.keyboard.press("ArrowRight")
    said = toast_text(page, "not reachable")
    assert said.startswith("The server is not reachable") and "Start it again" in said
    assert "Failed to fetch" not in said
    # the training page, while it plays: the same sentence once the stream drops
    t = servers("data2").start()
    page.goto(f"{t.base}/static/train.html?n_hidden=16")
    page.wait_for_function("window.__train && window.__train.ready", timeout=30_000)
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__train.state.status.step > 0")
    t.stop()
    said = toast_text(page, "not reachable")
    assert said.startswith("The server is not reachable") and "Failed to fetch" not in said
    page.screenshot(path=str(shots / "server_unreachable_train.png"))


def test_a_wrong_file_on_snapshot_import_is_one_sentence(page, live_server, tmp_path):
    page.goto(f"{live_server}/static/train.html?n_hidden=16")
    page.wait_for_function("window.__train && window.__train.ready", timeout=30_000)
    wrong = tmp_path / "results.json"
    wrong.write_text('{"loss": 2.1, "steps": [1, 2, 3]}')
    page.get_by_test_id("import-file").set_input_files(str(wrong))
    said = toast_text(page, "snapshot")
    assert said == ("this is not a backprop-ninja snapshot (it has no config, parameters and generator state): "
                    "import a file saved by Export snapshot on the training page")
