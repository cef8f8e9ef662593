"""The sandbox against hostile code, on the real server (uvicorn on loopback):
each escape or exhaustion attempt is refused or stopped, nothing is written
outside the worker, the server keeps serving, and memory comes back.

The table of what happened to each attempt is written to
artifacts/sandbox_corpus.md (the report quotes it)."""
from __future__ import annotations

import glob
import json
import os
import resource
import threading
import time
from pathlib import Path

import httpx
import pytest

from backprop_ninja.model import derive
from tests.conftest import CLIENT, REPO, free_port, start_server, stop_server, wait_healthy

CANARY = "/tmp/bpn-sandbox-canary"
# (what it tries, code); every entry must come back as verdict "error"
CORPUS = [
    ("dunder walk from a tuple", "dx = ().__class__.__bases__[0].__subclasses__()"),
    ("dunder walk from a tensor", "dx = probs.__class__.__mro__"),
    ("module dict", "dx = torch.__dict__"),
    ("function globals", "dx = F.softmax.__globals__"),
    ("getattr with a string", "dx = getattr(probs, '__class__')"),
    ("type()", "dx = type(probs)"),
    ("autograd graph", "dx = probs.grad_fn"),
    ("raw pointer", "dx = probs.data_ptr()"),
    ("lambda code object", "f = (lambda: 0)\ndx = f.__code__"),
    ("def and its closure", "def f():\n    return 1\ndx = f.__closure__"),
    ("bound method self", "dx = probs.sum.__self__"),
    ("__builtins__ by name", "dx = __builtins__"),
    ("globals()", "dx = globals()"),
    ("vars()", "dx = vars()"),
    ("eval", "dx = eval('1')"),
    ("exec", "exec('import os')"),
    ("open a file", "dx = open('/etc/passwd').read()"),
    ("compile", "dx = compile('1', 'x', 'eval')"),
    ("comprehension over subclasses", "dx = [c for c in ().__class__.__base__.__subclasses__()]"),
    ("generator frame", "g = (i for i in range(3))\ndx = g.gi_frame"),
    ("traceback frame", "try:\n    1/0\nexcept Exception as e:\n    dx = e.__traceback__.tb_frame"),
    ("str.format attribute walk", "dx = '{0.__class__}'.format(probs)"),
    ("f-string attribute walk", "dx = f'{probs.__class__}'"),
    ("name via string subscript", "s = '__import__'\ndx = F[s]"),
    ("string key on a tensor", "dx = probs['__class__']"),
    ("long string", "dx = torch.einsum('i' * 10 + '" + "j" * 80 + "', probs)"),
    ("torch.save", f"torch.save(probs, '{CANARY}-save')"),
    ("torch.load", "dx = torch.load('/etc/passwd')"),
    ("torch.from_file", "dx = torch.from_file('/etc/passwd', size=10)"),
    ("torch.ops", "dx = torch.ops.aten.add(probs, probs)"),
    ("torch.hub", "dx = torch.hub.load('x', 'y')"),
    ("torch.utils", "dx = torch.utils.data"),
    ("tensor.numpy()", "dx = probs.numpy()"),
    ("tensor.storage()", "dx = probs.storage()"),
    ("torch.classes", "dx = torch.classes"),
    ("torch.Tensor class", "dx = torch.Tensor"),
    ("import", "import os\nos.system('touch " + CANARY + "-import')"),
    ("from-import", "from subprocess import run"),
    ("__import__ by name", "os = __import__('os')"),
    ("setattr on a tensor", "probs.__setattr__('x', 1)"),
    ("del", "del probs"),
    ("with block", f"with open('{CANARY}-with', 'w') as f:\n    f.write('x')"),
    ("print", "print(probs)"),
    ("huge zeros", "dx = torch.zeros(10**10)"),
    ("huge 2-d ones", "dx = torch.ones(100000, 100000)"),
    ("expand then materialise", "dx = torch.ones(1).expand(10**12).clone()"),
    ("huge Python list", "a = [1] * 10**10"),
    ("huge string", "a = 'x' * 10**10"),
    ("doubling tensor", "a = torch.ones(10**6)\nfor i in range(60):\n    a = torch.cat([a, a])"),
    ("huge arange", "dx = torch.arange(10**10)"),
    ("while True", "while True:\n    pass"),
    ("endless for", "for i in range(10**12):\n    pass"),
    ("nested endless for", "for i in range(10**6):\n    for j in range(10**6):\n        x = i"),
    ("endless zip", "for i, j in zip(range(10**12), range(10**12)):\n    pass"),
    ("zip object internals", "dx = zip(probs, probs).__reduce__()"),
    ("enumerate over a string", "for i, c in enumerate('abc'):\n    dx = c.join"),
    ("huge integer power", "dx = 10**10**10"),
    ("matmul storm", "a = torch.ones(700, 700)\nfor i in range(10**6):\n    a = a @ a"),
    ("nested parentheses", "dx = " + "(" * 1000 + "1" + ")" * 1000),
    ("nested brackets", "dx = " + "[" * 5000 + "]" * 5000),
    # (each within the 30,000 characters an attempt may have: server.schemas.MAX_CODE)
    ("deep unary chain", "dx = " + "-" * 29000 + "1"),
    ("deep attribute chain", "dx = probs" + ".T" * 14000),
    ("deep binary chain", "dx = probs" + " + probs" * 3600),
    ("deep call chain", "dx = " + "abs(" * 3000 + "probs" + ")" * 3000),
]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


def zygote_of(server_pid: int) -> int:
    for pid in children(server_pid):
        if b"backprop_ninja.server.derive.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError("no zygote process under the server")


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc, log = start_server(port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield base, proc
    finally:
        stop_server(proc, log)


def post(c: httpx.Client, sid: str, node: str, code: str) -> dict:
    r = c.post(f"/api/sessions/{sid}/attempts", json={"node": node, "code": code, "mode": "atomic"})
    assert r.status_code == 200, r.text
    return r.json()


def test_corpus_is_refused_or_stopped(server):
    base, proc = server
    for stale in glob.glob(CANARY + "*"):
        os.remove(stale)
    c = httpx.Client(base_url=base, timeout=60, headers=CLIENT)
    sid = c.post("/api/sessions").json()["id"]
    other = c.post("/api/sessions").json()["id"]
    for s in (sid, other):
        c.post(f"/api/sessions/{s}/forward")
    right = derive.answer("atomic", "probs")
    assert post(c, sid, "probs", right)["verdict"] == "correct"  # warm: the zygote is up
    zygote = zygote_of(proc.pid)
    before = {"server": rss_kb(proc.pid), "zygote": rss_kb(zygote)}

    # meanwhile another learner keeps using the server, and health is polled
    stop, seen = threading.Event(), {"health": [], "other": []}

    def others():
        with httpx.Client(base_url=base, timeout=60, headers=CLIENT) as c2:
            while not stop.is_set():
                seen["health"].append(c2.get("/api/health").status_code)
                seen["other"].append(post(c2, other, "probs", right)["verdict"])
                time.sleep(0.05)

    t = threading.Thread(target=others)
    t.start()
    rows = []
    try:
        for what, code in CORPUS:
            t0 = time.monotonic()
            body = post(c, sid, "probs", code)
            rows.append((what, body["verdict"], body["error"], body["message"][:90], time.monotonic() - t0))
    finally:
        stop.set()
        t.join()
    table = ["| # | attempt | verdict | kind | message (start) | s |", "|---|---|---|---|---|---|"]
    table += [f"| {i} | {w} | {v} | {k} | {m.replace('|', '/')} | {s:.2f} |"
              for i, (w, v, k, m, s) in enumerate(rows, 1)]
    (REPO / "artifacts").mkdir(exist_ok=True)
    (REPO / "artifacts" / "sandbox_corpus.md").write_text("\n".join(table) + "\n")

    assert len(CORPUS) >= 40
    assert [r for r in rows if r[1] != "error"] == []
    kinds = {w: k for w, _, k, _, _ in rows}
    assert kinds["endless for"] == kinds["endless zip"] == kinds["matmul storm"] == "timeout"
    assert kinds["huge zeros"] == "memory" and kinds["zip object internals"] == "refused"
    assert kinds["while True"] == kinds["torch.load"] == kinds["dunder walk from a tuple"] == "refused"
    assert all("ran for more than" in m for _, _, k, m, _ in rows if k == "timeout")
    assert glob.glob(CANARY + "*") == []  # nothing written
    assert seen["health"] and set(seen["health"]) == {200}
    assert seen["other"] and set(seen["other"]) == {"correct"}
    assert post(c, sid, "probs", right)["verdict"] == "correct"  # still serving this learner too
    deadline = time.monotonic() + 10
    while children(zygote) and time.monotonic() < deadline:  # the last child being reaped
        time.sleep(0.05)
    assert children(zygote) == []  # no child left running
    after = {"server": rss_kb(proc.pid), "zygote": rss_kb(zygote)}
    # the attempts allocated gigabytes in their children; the two long-lived processes did not grow
    assert after["server"] < before["server"] + 64 * 1024, (before, after)
    assert after["zygote"] < before["zygote"] + 16 * 1024, (before, after)
    assert zygote_of(proc.pid) == zygote  # it never died


def test_a_killed_zygote_is_restarted(server):
    base, proc = server
    c = httpx.Client(base_url=base, timeout=60, headers=CLIENT)
    sid = c.post("/api/sessions").json()["id"]
    c.post(f"/api/sessions/{sid}/forward")
    right = derive.answer("atomic", "probs")
    assert post(c, sid, "probs", right)["verdict"] == "correct"
    old = zygote_of(proc.pid)
    os.kill(old, 9)
    deadline = time.monotonic() + 10
    while old in children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert post(c, sid, "probs", right)["verdict"] == "correct"
    assert zygote_of(proc.pid) != old


def test_child_is_shut_in():
    """What a child can do once shut in: nobody's uid when started as root,
    no file descriptors but its pipe and /dev/null on 0-2, the limits set."""
    from backprop_ninja.server.derive import sandbox_child

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sandbox_child.shut_in(w, 2, 256 << 20)
            fds = []
            for fd in range(256):
                try:
                    os.fstat(fd)
                    fds.append(fd)
                except OSError:
                    pass
            try:
                open("/tmp/bpn-sandbox-canary-open", "w")
                opened = True
            except OSError:
                opened = False
            info = {"uid": os.getuid(), "gid": os.getgid(), "fds": fds, "opened": opened,
                    "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
                    "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
                    "as": resource.getrlimit(resource.RLIMIT_AS)[0]}
            os.write(w, json.dumps(info).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.waitpid(pid, 0)
    info = json.loads(data)
    if os.getuid() == 0:
        assert info["uid"] == info["gid"] == sandbox_child.NOBODY
    assert info["fds"] == [0, 1, 2, w]
    assert info["opened"] is False and not os.path.exists("/tmp/bpn-sandbox-canary-open")
    assert info["cpu"] == 1 and info["fsize"] == 0 and info["as"] > 0


def test_the_servers_shutdown_ends_the_zygote_by_telling_it():
    # the app's shutdown closed its end of the zygote's socket while the
    # reader thread's recv still held it open: the zygote heard nothing, was
    # killed 5 s later, and every shutdown of the server waited for that
    from tests.server.conftest import make_client

    with make_client() as c:
        sid = c.post("/api/sessions").json()["id"]
        c.post(f"/api/sessions/{sid}/forward")
        assert post(c, sid, "probs", derive.answer("atomic", "probs"))["verdict"] == "correct"  # it serves
        zygote = c.app.state.sandbox._proc
    assert zygote.returncode == 0  # it read the end and exited; a kill is -9
