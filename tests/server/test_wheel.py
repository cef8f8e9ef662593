"""The package as a user installs it: build the wheel, install it into a fresh
venv, start `backprop-ninja` from another directory and load every asset the
two pages reference (their imports followed recursively) and one API step.

Honest and fast: the wheel is built from the files git knows (tracked and
new, not ignored), without build isolation (the venv's setuptools; no
download), and installed with --no-deps into a venv of its own. Only the
dependencies (torch, fastapi, ...) come from this venv's site-packages,
added by a .pth line: its own .pth files (the editable install of this
repository) are not run, so `backprop_ninja` can only come from the wheel,
which the test checks.

A learner's folder may hold a `model.py`, `torch.py` or `backprop_ninja.py`
of their own: the server started there, from the wheel and from the
editable install alike, imports none of them, in itself or in any child
process (training workers, the sandbox)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import CLIENT, REPO, free_port, stop_server, wait_healthy

PAGES = ("/", "/static/train.html")
# static imports, re-exports and dynamic import('...') of the ES modules
JS_IMPORT = re.compile(r"""(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)"""
                       r"""|^\s*import\s*['"]([^'"]+)['"]""", re.M)


class Refs(HTMLParser):
    """Every local URL a page loads: scripts, style sheets, icons."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and not a["href"].startswith("data:"):
            self.urls.append(a["href"])


def known() -> list[str]:
    """The files git knows (tracked and new, not ignored): what a clone or sdist would hold."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    return [rel for rel in listed if rel and (REPO / rel).is_file()]


def sources(tmp: Path) -> Path:
    """A copy of the files git knows, not build leftovers."""
    src = tmp / "src"
    for rel in known():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    return src


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = sources(tmp)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("backprop_ninja-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True)
    return wheel, venv, site, src


def clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BPN_"))}
    return {**env, "BPN_DATA_DIR": str(tmp / "data"), "BPN_WORKERS": "1"}


def test_wheel_installs_one_package_with_every_module_and_page(installed):
    """backprop_ninja and its dist-info, nothing else; in it, exactly the files
    git knows of the package's top, model/, server/ and frontend/ (not the
    front end's README), where the package maps them."""
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"backprop_ninja"}, sorted(tops)
    shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    parts = ("model/", "server/", "frontend/")
    expected = {f"backprop_ninja/{rel}" for rel in known()
                if rel == "__init__.py" or rel.startswith(parts) and rel != "frontend/README.md"}
    assert shipped == expected, {"missing": sorted(expected - shipped), "extra": sorted(shipped - expected)}


def test_the_installed_package_works_from_inside_a_checkout(installed):
    """A notebook or a shell started in a clone of the repository, with the
    wheel installed (not the editable install): the checkout's folders do not
    hide the installed package."""
    _, venv, site, src = installed
    py = venv / "bin" / "python"
    got = subprocess.run([py, "-c", "import backprop_ninja.model as m, backprop_ninja.frontend as f; "
                          "print(m.__file__, f.__file__)"], cwd=src, env=clean_env(src.parent),
                         check=True, capture_output=True, text=True).stdout.split()
    assert all(Path(p).resolve().is_relative_to(site.resolve()) for p in got), got
    cli = subprocess.run([py, "-m", "backprop_ninja.model.train", "--help"], cwd=src, env=clean_env(src.parent),
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "--steps" in cli.stdout, cli.stderr


def test_installed_program_serves_the_whole_app_from_another_directory(installed, tmp_path):
    _, venv, site, _ = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path)
    where = subprocess.run([venv / "bin" / "python", "-c",
                            "import backprop_ninja as b, backprop_ninja.server.routes.pages as s; "
                            "print(b.__file__, s.__file__, s.FRONTEND)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    for path in where:  # the wheel's copies, not this repository's
        assert Path(path).resolve().is_relative_to(site.resolve()), where

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([venv / "bin" / "backprop-ninja", "--port", str(port), "--no-open"],
                                cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, str(log))
        with httpx.Client(base_url=base, headers=CLIENT, timeout=30) as c:
            seen: set[str] = set()
            todo: list[str] = []
            for page in PAGES:
                r = c.get(page)
                assert r.status_code == 200 and "<html" in r.text, (page, r.status_code)
                refs = Refs()
                refs.feed(r.text)
                assert refs.urls, f"{page} references nothing"
                todo += [urljoin(base + page, u) for u in refs.urls]
            while todo:
                url = todo.pop()
                if url in seen:
                    continue
                seen.add(url)
                r = c.get(url)
                assert r.status_code == 200 and r.content, (url, r.status_code)
                if url.endswith(".js") and "/vendor/" not in url:
                    for m in JS_IMPORT.finditer(r.text):
                        todo.append(urljoin(url, next(g for g in m.groups() if g)))
            modules = {u for u in seen if u.endswith(".js") and "/static/" in u}
            on_disk = {p for p in (site / "backprop_ninja" / "frontend").rglob("*.js")}
            assert len(modules) == len(on_disk), sorted(modules)  # every module reached, none missing
            sid = c.post("/api/sessions").json()["id"]
            assert c.post(f"/api/sessions/{sid}/forward").status_code == 200
            back = c.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 1})
            assert back.status_code == 200 and back.json()["computed"] == ["loss"], back.text
    finally:
        stop_server(proc)


CLASHES = ("model.py", "server.py", "backprop_ninja.py", "torch.py", "frontend/__init__.py", "frontend/index.html")


def learners_folder(tmp: Path) -> tuple[Path, Path]:
    """A folder like a student's notebook folder: modules named as ours (and
    as torch), each of which leaves a mark and raises when imported."""
    folder, marks = tmp / "my_exercise", tmp / "imported"
    for name in CLASHES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"open({str(marks)!r}, 'a').write(__name__ + '\\n')\n"
                                   f"raise ImportError('the learner\\'s own {name} was imported')\n"
                                   if name.endswith(".py") else "<p>the learner's own page</p>\n")
    return folder, marks


@pytest.mark.parametrize("install", ["wheel", "editable"])
def test_a_learners_folder_of_same_named_modules_is_never_imported(installed, tmp_path, install):
    from websockets.sync.client import connect

    venv = installed[1]
    program = venv / "bin" / "backprop-ninja" if install == "wheel" else Path(sys.executable).parent / "backprop-ninja"
    folder, marks = learners_folder(tmp_path)
    port, log = free_port(), tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([program, "--port", str(port), "--no-open"], cwd=folder, env=clean_env(tmp_path),
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, str(log))
        with httpx.Client(base_url=base, headers=CLIENT, timeout=60) as c:
            for page in PAGES:  # ours, not the folder's index.html
                r = c.get(page)
                assert r.status_code == 200 and "the learner's own page" not in r.text, page
            assert c.get("/static/app.js").status_code == 200
            sid = c.post("/api/sessions").json()["id"]
            assert c.post(f"/api/sessions/{sid}/forward").status_code == 200
            # judged in the sandbox's child, a fork of the zygote
            r = c.post(f"/api/sessions/{sid}/attempts", json={"node": "loss", "code": "dloss = 1.0"})
            assert r.status_code == 200 and r.json()["verdict"] == "correct", r.text
            # trained live in a training worker
            with connect(f"ws://127.0.0.1:{port}/api/sessions/{sid}/stream", origin=base) as ws:
                ws.send('{"cmd": "subscribe", "nodes": [], "format": "json"}')
                ws.recv()
                ws.send('{"cmd": "play", "steps_per_frame": 5}')
                steps = set()
                while len(steps) < 3:
                    msg = ws.recv(timeout=60)
                    if isinstance(msg, str) and '"type":"frame"' in msg.replace(" ", ""):
                        steps.add(json.loads(msg)["step"])
                ws.send('{"cmd": "pause"}')
                while not (isinstance(msg := ws.recv(timeout=60), str) and '"cmd":"pause"' in msg.replace(" ", "")):
                    pass
            assert max(steps) > 0 and json.loads(msg)["result"]["step"] >= max(steps)
    finally:
        stop_server(proc)
    assert not marks.exists(), f"imported from the learner's folder: {marks.read_text()}"
    assert "Traceback" not in log.read_text(), log.read_text()
