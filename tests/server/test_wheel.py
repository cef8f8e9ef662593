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
process (training workers, the sandbox).

The dependencies are split as a notebook user needs them: the base is the
model's (torch as a range, not our pinned build), the web app's are the
`server` extra, the notebook's the `notebook` extra. A venv with the base
and the notebook extra only (this venv's packages less the server extra's)
runs the model, and its `backprop-ninja` says in one sentence what to install."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def project() -> dict:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_wheel_installs_one_package_with_every_module_and_page(installed):
    """backprop_ninja and its dist-info, nothing else; in it, exactly the files
    git knows of the package's top (its modules) and of each part's folder
    (model/, server/, frontend/, ...: the packages pyproject.toml lists), less
    what it excludes (the front end's README), where the package maps them."""
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"backprop_ninja"}, sorted(tops)
    shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    setuptools = project()["tool"]["setuptools"]
    parts = tuple(sorted({p.split(".")[1] + "/" for p in setuptools["packages"] if "." in p}))
    assert {"model/", "server/", "frontend/"} <= set(parts), parts
    excluded = {f"{pkg.split('.', 1)[1].replace('.', '/')}/{name}"
                for pkg, names_ in setuptools.get("exclude-package-data", {}).items() for name in names_}
    expected = {f"backprop_ninja/{rel}" for rel in known()
                if ("/" not in rel and rel.endswith(".py")) or rel.startswith(parts) and rel not in excluded}
    assert shipped == expected, {"missing": sorted(expected - shipped), "extra": sorted(shipped - expected)}


def requires(wheel: Path) -> dict[str, list[Requirement]]:
    """The wheel's Requires-Dist, by extra ("" for the base)."""
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    out: dict[str, list[Requirement]] = {extra: [] for extra in re.findall(r"^Provides-Extra: (\S+)$", text, re.M)}
    out[""] = []
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        req = Requirement(line)
        extra = next((e for e in out if e and req.marker and req.marker.evaluate({"extra": e})), "")
        out[extra].append(req)
    return out


def closure(reqs: list[Requirement]) -> set[str]:
    """Every distribution installing `reqs` pulls, read from the metadata of
    this venv's installed packages (the test extra has them all installed)."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = list(reqs)
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.distribution(req.name).requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append(sub)
    return {name for name, _ in seen}


WEB_ONLY = {"fastapi", "starlette", "uvicorn", "websockets", "pydantic", "pydantic-settings", "redis", "segno",
            "latex2mathml", "httpx"}


def test_the_base_is_the_model_and_the_extras_are_server_notebook_and_test(installed):
    """The wheel's metadata: the base is what backprop_ninja.model imports, with
    a torch range a notebook's torch meets (not our pinned build); the web
    app's packages are the `server` extra; `notebook` pulls nothing of the
    web app, down to its dependencies' dependencies; `test` is both and the tools."""
    reqs = requires(installed[0])
    assert {"server", "notebook", "test"} <= set(reqs), sorted(reqs)
    base = {canonicalize_name(r.name): r for r in reqs[""]}
    assert set(base) == {"torch", "numpy", "names", "tqdm"}, sorted(base)
    torch_spec = base["torch"].specifier
    assert not any(s.operator == "==" for s in torch_spec) and torch_spec.contains("2.1.0"), torch_spec
    server = {canonicalize_name(r.name) for r in reqs["server"]}
    assert {"fastapi", "uvicorn", "pydantic", "pydantic-settings", "plotly", "latex2mathml", "segno",
            "redis", "websockets"} <= server, server
    # what the program looks for before it says to install the extra: the extra itself
    from backprop_ninja.server.__main__ import SERVER_EXTRA
    assert set(SERVER_EXTRA) == {name.replace("-", "_") for name in server}, SERVER_EXTRA
    notebook = {canonicalize_name(r.name) for r in reqs["notebook"]}
    # ipywidgets and traitlets: notebook/widget.py imports them itself
    assert {"anywidget", "ipywidgets", "traitlets", "ipykernel", "nbclient", "nbformat", "plotly"} <= notebook, notebook
    pulled = closure(reqs[""] + reqs["notebook"])
    assert not pulled & WEB_ONLY, f"backprop-ninja[notebook] pulls the web app's {sorted(pulled & WEB_ONLY)}"
    test = {canonicalize_name(r.name): r for r in reqs["test"]}
    assert test["backprop-ninja"].extras >= {"server", "notebook"} and "jupyterlab" in test, sorted(test)


@pytest.fixture(scope="module")
def notebook_only(installed):
    """A venv with the wheel and only the base and notebook dependencies: this
    venv's packages, each linked into a folder of their own, less every
    distribution that only the server extra pulls."""
    wheel, _, _, src = installed
    tmp = src.parent / "notebook-only"
    reqs = requires(wheel)
    web = closure(reqs["server"]) - closure(reqs[""] + reqs["notebook"])
    assert {"fastapi", "uvicorn", "pydantic"} <= web, web
    ours = Path(sysconfig.get_paths()["purelib"])
    left_out = {"backprop_ninja"}  # the editable install's metadata and finder: the wheel's are used
    for name in web:
        dist = metadata.distribution(name)
        left_out |= {Path(f).parts[0] for f in dist.files or [] if not Path(f).parts[0] == ".."}
    deps = tmp / "deps"
    deps.mkdir(parents=True)
    for entry in ours.iterdir():
        if entry.name not in left_out and not entry.name.startswith(("__editable__", "backprop_ninja")):
            (deps / entry.name).symlink_to(entry)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(f"{deps}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True)
    return venv


def test_without_the_server_extra_the_model_runs_and_the_program_says_what_to_install(notebook_only, tmp_path):
    py, env = notebook_only / "bin" / "python", clean_env(tmp_path)
    lacks = subprocess.run([py, "-c", "import fastapi"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert lacks.returncode != 0, "the notebook-only venv has fastapi: the test proves nothing"
    run = subprocess.run([py, "-c", "from backprop_ninja.model import MLP, Config\n"
                          "m = MLP(Config(n_hidden=8)); m.forward(); m.backward()\n"
                          "print(all(c.approx for c in m.checks().values()))"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.split()[-1] == "True", run.stderr[-2000:]
    for argv in ([notebook_only / "bin" / "backprop-ninja", "--no-open", "--port", "0"],
                 [py, "-m", "backprop_ninja.server", "--no-open", "--port", "0"]):
        out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        said = out.stderr.strip()
        assert out.returncode == 2 and "Traceback" not in said, (out.returncode, said[-2000:])
        assert len(said.splitlines()) == 1 and 'pip install "backprop-ninja[server]"' in said, said


def test_without_the_server_extra_the_example_notebook_runs_and_is_checked(notebook_only, tmp_path):
    """The notebook side whole, with the notebook extra only: the command-line
    check runs the example notebook (bpn.check and bpn.show cells included)
    in a kernel of that venv, and lists exercise 1 as to do."""
    py, env = notebook_only / "bin" / "python", clean_env(tmp_path)
    example = tmp_path / "my_exercise.ipynb"
    shutil.copy(REPO / "examples" / "backprop_ninja.ipynb", example)
    out = subprocess.run([py, "-m", "backprop_ninja.check", str(example)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    assert "to do: dlogits" in out.stdout and "Traceback" not in out.stdout + out.stderr, out.stdout[-2000:]


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
