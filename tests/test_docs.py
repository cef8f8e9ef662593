"""The documents tell the truth: every command they show runs, every
relative link they make leads to a file, every setting is in the table.

Commands are the lines of the ```sh blocks of README.md and docs/*.md. Each
one is covered in one of three ways, or this test fails naming it:
  * run here: as written, with only the cheap substitutions of `prepare`
    (fewer steps, a small word list, a free port, no browser);
  * a benchmark (`benchmarks.*`, `benchmarks/*.py`): it exists, and if it
    takes options it answers --help, naming the options the line uses;
    benchmarks take minutes and are not run;
  * ELSEWHERE: the test (or CI script) that runs it, named below.
A server command is started, asked for /api/health and, when it wants a
token, checked to refuse a request without it; then it is stopped."""
from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backprop_ninja.server.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "frontend" / "README.md"]
BIN = Path(sys.executable).parent  # the venv the tests run in: `.venv/bin` as the docs write it
WORDS = "anna\nbob\ncarla\ndave\neve\nfred\ngina\nhal\nian\njoe\nkim\nlou\n"
START_TIMEOUT = 60.0

# Commands this test cannot run, and what runs them (a path::test, or a
# CI script that holds the command). Each entry must exist and be used.
ELSEWHERE = {
    "bash scripts/test.sh": ".ci/run",
    "BPN_WRITE_DOCS=1 .venv/bin/python -m pytest tests/frontend/test_docs_screenshot.py":
        "tests/frontend/test_docs_screenshot.py::test_stepper_at_dlogits_for_the_readme",
    "docker compose up": "tests/test_docs.py::test_the_images_command_serves_the_app_behind_its_token",
    "docker compose logs backprop-ninja": "tests/test_docs.py::test_the_images_command_serves_the_app_behind_its_token",
    "docker run -p 127.0.0.1:8000:8000 backprop-ninja":
        "tests/test_docs.py::test_the_images_command_serves_the_app_behind_its_token",
    # the image installs the package as `pip install --no-deps .`, as this test does with the wheel
    "docker build -t backprop-ninja .":
        "tests/server/test_wheel.py::test_wheel_installs_one_package_with_every_module_and_page",
    "BPN_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/backprop-ninja --port 8001 --no-open":
        "tests/server/rooms/test_rooms_redis.py::test_a_follower_on_another_process_follows_the_teacher",
}
BENCHMARK = re.compile(r"^\.venv/bin/python (?:-m (benchmarks)\.(\w+)|(benchmarks)/(\w+)\.py)\b(.*)$")
SERVER = re.compile(r"^(?:\w+=\S+ )*(?:bash scripts/run\.sh|\.venv/bin/backprop-ninja)\b")


# ---- the commands --------------------------------------------------------------
def sh_commands() -> list[tuple[str, str]]:
    """(document, command) for every line of every ```sh block: comments
    dropped, lines ending in a backslash joined with the next."""
    out = []
    for doc in DOCS:
        for block in re.findall(r"^```sh\n(.*?)^```", doc.read_text(), re.S | re.M):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                cmd = re.sub(r"\s+#.*$", "", line).strip()
                if cmd and not cmd.startswith("#"):
                    out.append((doc.relative_to(REPO).as_posix(), cmd))
    return out


def test_every_code_block_says_what_it_holds():
    """A block is ```sh (its commands are covered below), ```python (the one
    recipe tests/model/test_model_notebook.py runs) or ```text (output, pictures):
    a command in a block of another kind would escape the checks."""
    kinds = {}
    for doc in DOCS:
        fences = re.findall(r"^```(.*)$", doc.read_text(), re.M)[::2]  # the opening fence of each pair
        for lang in fences:
            kinds.setdefault(lang, []).append(doc.relative_to(REPO).as_posix())
    assert set(kinds) <= {"sh", "python", "text"}, {k: v for k, v in kinds.items() if k not in ("sh", "python", "text")}
    assert kinds.get("python") == ["docs/notebook.md"], kinds.get("python")


COMMANDS = sh_commands()


def kind(cmd: str) -> str:
    if cmd in ELSEWHERE:
        return "elsewhere"
    if BENCHMARK.match(cmd):
        return "benchmark"
    if SERVER.match(cmd):
        return "server"
    if cmd.startswith(".venv/bin/python -m "):
        return "run"
    return "uncovered"


def prepare(cmd: str, tmp: Path) -> str:
    """The command as this test runs it: the cheap substitutions, each named."""
    words = tmp / "words.txt"
    words.write_text(WORDS)
    # a word list the docs name (yours, or the lecture's names.txt): a dozen names
    cmd = re.sub(r"(?<=--data )\S+", str(words), cmd)
    # files the command writes go to a temporary folder, not the checkout
    cmd = re.sub(r"(?<=--report )\S+", str(tmp / "report.json"), cmd)
    # training: 300 steps of a small net, not 200,000 (the last --steps wins)
    cmd = re.sub(r"(-m backprop_ninja\.model\.train\b.*)$", r"\1 --steps 300 --n-hidden 32 --samples 3", cmd)
    # model.bench: one short round, not a minute
    cmd = re.sub(r"(-m backprop_ninja\.model\.bench\b.*)$", r"\1 --seconds 0.02 --rounds 1", cmd)
    # pytest as CI runs it (no .pytest_cache); a whole file is only collected here: the suite runs it
    cmd = re.sub(r"(-m pytest\b.*)$", r"\1 -p no:cacheprovider", cmd)
    if " -m pytest " in cmd and " -k " not in cmd:
        cmd += " --collect-only -q"
    if SERVER.match(cmd):
        # run.sh is setup.sh (pip install into .venv, which a test must not do), then the program
        cmd = cmd.replace("bash scripts/run.sh", ".venv/bin/backprop-ninja")
        cmd = re.sub(r"--port \d+", "", cmd) + " --port 0"  # a free port
        cmd += "" if "--no-open" in cmd else " --no-open"  # no browser
    return cmd.replace(".venv/bin/", f"{BIN}/")


def test_every_command_in_the_docs_is_covered():
    assert COMMANDS, "no ```sh block found in README.md or docs/*.md"
    uncovered = [f"{doc}: `{cmd}` is run by no test: run it in tests/test_docs.py or map it in ELSEWHERE"
                 for doc, cmd in COMMANDS if kind(cmd) == "uncovered"]
    assert not uncovered, "\n".join(uncovered)
    shown = {cmd for _, cmd in COMMANDS}
    stale = [cmd for cmd in ELSEWHERE if cmd not in shown]
    assert not stale, f"ELSEWHERE maps commands no document shows any more: {stale}"


@pytest.mark.parametrize("cmd, where", sorted(ELSEWHERE.items()))
def test_what_runs_the_others_exists(cmd, where):
    path, _, name = where.partition("::")
    text = (REPO / path).read_text()
    if name:
        names = {n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
        assert name in names, f"`{cmd}` is mapped to {where}, which does not exist"
    else:
        assert cmd in text, f"`{cmd}` is mapped to {path}, which does not run it"


def test_run_sh_is_setup_then_the_program():
    """The substitution for `bash scripts/run.sh`: it sets up, then execs the program with its arguments."""
    lines = [ln for ln in (REPO / "scripts" / "run.sh").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[-2:] == ["bash scripts/setup.sh", 'exec .venv/bin/backprop-ninja "$@"'], lines


@pytest.mark.parametrize("cmd", sorted({c for _, c in COMMANDS if kind(c) == "run"}), ids=str)
def test_command_runs(cmd, tmp_path):
    run = prepare(cmd, tmp_path)
    out = subprocess.run(["bash", "-c", run], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"`{cmd}` (run as `{run}`) exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    if "--report" in cmd:
        assert (tmp_path / "report.json").stat().st_size > 0


# ---- servers ---------------------------------------------------------------------
def serve(argv_or_shell, tmp: Path, env: dict | None = None):
    """Start a server command; (process, base URL on loopback, what it printed so far)."""
    log = tmp / "server.log"
    env = {**os.environ, "BPN_DATA_DIR": str(tmp / "data"), "BPN_WORKERS": "1", **(env or {})}
    with log.open("w") as f:
        shell = isinstance(argv_or_shell, str)
        # exec: the server is the process stopped below, its variables set as the line sets them
        argv = ["bash", "-c", re.sub(r"^((?:\w+=\S+ )*)", r"\1exec ", argv_or_shell)] if shell else argv_or_shell
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        printed = log.read_text()
        assert proc.poll() is None, f"exited {proc.returncode}:\n{printed}"
        port = re.search(r"serving on http://\S+?:(\d+)/", printed)
        if port:
            base = f"http://127.0.0.1:{port.group(1)}"
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    return proc, base, log.read_text()
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    stop(proc)
    raise AssertionError(f"no answer on /api/health in {START_TIMEOUT:g} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def check_guarded(base: str, printed: str) -> None:
    """Off loopback (or with BPN_TOKEN): refused without the printed token, served with it."""
    token = re.search(r"/\?token=([\w-]+)", printed)
    assert token, f"bound off loopback but printed no ?token= address:\n{printed}"
    client = {"X-Requested-With": "tests"}
    assert httpx.post(f"{base}/api/sessions", headers=client).status_code == 401
    r = httpx.post(f"{base}/api/sessions", json={"n_hidden": 8},
                   headers={**client, "Authorization": f"Bearer {token.group(1)}"}, timeout=30)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("cmd", sorted({c for _, c in COMMANDS if kind(c) == "server"}), ids=str)
def test_server_command_serves(cmd, tmp_path):
    run = prepare(cmd, tmp_path)
    proc, base, printed = serve(run, tmp_path)
    try:
        if "--data" in cmd:
            ds = httpx.get(f"{base}/api/datasets/default").json()
            assert ds["words"] == len(WORDS.split()), ds
        for name in re.findall(r"BPN_ALLOWED_HOSTS=(\S+)", cmd):  # answers to the names it is given
            for host in name.split(","):
                assert httpx.get(f"{base}/api/health", headers={"host": host}).status_code == 200, host
        if "--host 0.0.0.0" in cmd or "BPN_TOKEN=" in cmd:
            check_guarded(base, printed)
        else:
            assert httpx.post(f"{base}/api/sessions", headers={"X-Requested-With": "tests"},
                              timeout=30).status_code == 201
    finally:
        stop(proc)


def test_the_images_command_serves_the_app_behind_its_token(tmp_path):
    """`docker compose up` and `docker run` start the image, whose CMD is run
    here as written (on a free port): bound to every interface, it prints a
    loopback address with its token, and wants that token."""
    dockerfile = (REPO / "Dockerfile").read_text()
    cmd = ast.literal_eval(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert cmd[0] == "backprop-ninja" and cmd[cmd.index("--host") + 1] == "0.0.0.0", cmd
    assert "ENV BPN_DATA_DIR=/data" in dockerfile and "USER nobody" in dockerfile
    compose = (REPO / "docker-compose.yml").read_text()
    assert re.search(r"^  backprop-ninja:$", compose, re.M)  # the service `docker compose logs` names
    assert '"127.0.0.1:8000:8000"' in compose  # published on the host's loopback only
    argv = [str(BIN / cmd[0]), *cmd[1:]]
    argv[argv.index("--port") + 1] = "0"
    proc, base, printed = serve(argv, tmp_path)
    try:
        assert re.search(r"http://127\.0\.0\.1:\d+/\?token=", printed), printed
        check_guarded(base, printed)
    finally:
        stop(proc)


def test_the_image_installs_the_projects_dependencies_then_its_parts():
    """The Dockerfile installs the dependencies in a layer of their own, listed
    by its `python -c` line from pyproject.toml (run here as the image's shell
    runs it): the base and the `server` extra, the image being the web app.
    Then it copies every module and folder the package is made of."""
    import tomllib

    dockerfile = (REPO / "Dockerfile").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    line = re.search(r"^RUN (python -c .*?) \\$", dockerfile, re.M).group(1).replace("python", sys.executable, 1)
    listed = subprocess.run(["sh", "-c", line], cwd=REPO, capture_output=True, text=True, check=True).stdout
    wanted = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["server"]
    assert listed.splitlines() == wanted, listed
    copied = {src for srcs in re.findall(r"^COPY (.+) \./", dockerfile, re.M) for src in srcs.split()}
    # the package's top is the repository's: its modules (__init__.py, ...), and a folder per part
    tops = {p.name for p in REPO.glob("*.py")}
    parts = tops | {p.split(".")[1] for p in project["tool"]["setuptools"]["packages"] if "." in p}
    assert project["tool"]["setuptools"]["package-dir"] == {"backprop_ninja": "."}
    assert parts <= copied, f"the image does not copy {parts - copied}"
    absent = sorted(src for src in copied if not (REPO / src).exists())
    assert not absent, f"the image copies what the repository does not have: {absent}"


def test_our_machines_install_one_torch_build_first_and_the_metadata_accepts_it():
    """setup.sh (so CI) and the Dockerfile install exactly the same CPU torch,
    before the project; pyproject.toml asks a range (a notebook keeps its own
    torch) that this build meets, so installing the project keeps it."""
    import tomllib

    from packaging.requirements import Requirement

    setup = (REPO / "scripts" / "setup.sh").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    pinned = re.search(r'^TORCH="torch==([\w.]+)"$', setup, re.M).group(1)
    assert re.search(r'^install "\$TORCH"$', setup, re.M), "setup.sh does not install $TORCH"
    assert setup.index('install "$TORCH"') < setup.index("install -e"), "setup.sh installs the project before torch"
    docker_torch = re.search(r"^RUN pip install .*\btorch==([\w.]+)$", dockerfile, re.M)
    assert docker_torch and docker_torch.group(1) == pinned, "the Dockerfile pins another torch than setup.sh"
    assert docker_torch.start() < dockerfile.index("requirements.txt"), "the image installs torch after the rest"
    (spec,) = [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
               if Requirement(r).name == "torch"]
    assert spec.specifier.contains(pinned) and not str(spec.specifier).startswith("=="), spec

# ---- benchmarks ------------------------------------------------------------------
@pytest.mark.parametrize("cmd", sorted({c for _, c in COMMANDS if kind(c) == "benchmark"}), ids=str)
def test_benchmark_exists_and_answers_help(cmd):
    m = BENCHMARK.match(cmd)
    name, rest = m.group(2) or m.group(4), m.group(5)
    path = REPO / "benchmarks" / f"{name}.py"
    assert path.is_file(), f"`{cmd}`: no {path.relative_to(REPO)}"
    source = path.read_text()
    flags = re.findall(r"--[\w-]+", rest)
    if "ArgumentParser(" not in source:
        assert not flags, f"`{cmd}` passes {flags}, but {path.name} takes no options"
        return
    argv = [sys.executable, "-m", f"benchmarks.{name}"] if m.group(1) else [sys.executable, str(path)]
    out = subprocess.run([*argv, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"`{cmd} --help` exited {out.returncode}:\n{out.stderr[-2000:]}"
    missing = [f for f in flags if f not in out.stdout]
    assert not missing, f"`{cmd}`: {path.name} has no option {missing}"


# ---- links and settings ----------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_lead_to_files(doc):
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)
    broken = []
    for image, target in re.findall(r"(!?)\[[^\]]*\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            assert not image, f"{doc.name}: an image from another host: {target}"
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", dest.read_text(), re.M)
            if anchor not in {slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{doc.name}: links to nothing: {broken}"
    assert "<img" not in text


def test_every_setting_is_in_the_operations_table():
    rows = dict(re.findall(r"^\| `(BPN_\w+)` \| ([^|]+) \|", (REPO / "docs" / "operations.md").read_text(), re.M))
    fields = Settings.model_fields
    assert set(rows) == {f"BPN_{name.upper()}" for name in fields}
    for name, field in fields.items():
        default, shown = field.default, rows[f"BPN_{name.upper()}"].strip().strip("`")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert float(shown) == default, f"BPN_{name.upper()}: the table says {shown}, the code {default}"
        elif isinstance(default, str):
            assert shown == default, f"BPN_{name.upper()}: the table says {shown}, the code {default}"
