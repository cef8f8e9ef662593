"""Uploaded word lists on disk, by content: the same id after a restart and on
another server; named by their file; bounded in memory and on disk; a wrong
file on snapshot import gets a sentence."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.server.conftest import make_client

WORDS = "\n".join(["ann", "bob", "eve", "max", "zoe", "liv", "kim", "amy", "ian", "joe", "ada", "ben"])


def upload(c, data: bytes, name: str | None = "friends.txt"):
    return c.post("/api/datasets", content=data, params={} if name is None else {"name": name},
                  headers={"content-type": "text/plain"})


def test_a_list_keeps_its_id_across_restarts_and_servers(tmp_path):
    with make_client(data_dir=tmp_path / "a", workers=1) as c:
        r = upload(c, WORDS.encode())
        assert r.status_code == 201, r.text
        ds = r.json()
        assert ds["name"] == "friends.txt" and ds["words"] == 12 and len(ds["id"]) == 32
        # the same words in another file (CRLF, a BOM): the same list, the same id
        again = upload(c, b"\xef\xbb\xbf" + WORDS.replace("\n", "\r\n").encode() + b"\r\n", "copy.txt").json()
        assert again["id"] == ds["id"] and again["name"] == "copy.txt"
    with make_client(data_dir=tmp_path / "a", workers=1) as c:  # restarted: nothing in memory
        got = c.get(f"/api/datasets/{ds['id']}")
        assert got.status_code == 200 and got.json()["name"] == "copy.txt", got.text
        r = c.post("/api/sessions", json={"dataset": ds["id"], "n_hidden": 8})
        assert r.status_code == 201, r.text
        assert c.get(f"/api/graph?dataset={ds['id']}").status_code == 200
    with make_client(data_dir=tmp_path / "b", workers=1) as c:  # another machine, which has not seen it yet
        gone = c.get(f"/api/datasets/{ds['id']}")
        assert gone.status_code == 404 and "upload the same word list again" in gone.json()["detail"]
        assert upload(c, WORDS.encode(), "mine.txt").json()["id"] == ds["id"]
        assert c.post("/api/sessions", json={"dataset": ds["id"], "n_hidden": 8}).status_code == 201


def test_the_builtin_list_has_a_name(client):
    d = client.get("/api/datasets/default").json()
    assert d["name"].startswith("US census first names") and d["words"] == 5163


@pytest.mark.parametrize("ds_id", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "0" * 31 + "/", "A" * 32, "x" * 2000])
def test_ids_never_reach_the_file_system(client, ds_id):
    r = client.get(f"/api/datasets/{ds_id}")
    assert r.status_code == 404, r.text
    r = client.post("/api/sessions", json={"dataset": ds_id})
    assert r.status_code == 404 and "no data set" in r.json()["detail"]


def test_latin1_is_refused_with_the_sentence_the_cli_gives(tmp_path):
    data = "ann\nbob\nrené\n".encode("latin-1") + b"\n".join(w.encode() for w in WORDS.split("\n"))
    path = tmp_path / "latin.txt"
    path.write_bytes(data)
    cli = subprocess.run([sys.executable, "-m", "backprop_ninja.model.train", "--data", str(path), "--steps", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0
    with make_client(data_dir=tmp_path / "d", workers=1) as c:
        r = upload(c, data, "latin.txt")
    assert r.status_code == 422
    said = r.json()["detail"]
    assert said == "latin.txt, line 3: bytes that are not UTF-8 text (byte 11); save the file as UTF-8"
    assert said.replace("latin.txt", str(path)) in cli.stderr


def test_memory_holds_a_few_and_the_disk_has_a_cap(tmp_path):
    with make_client(data_dir=tmp_path, max_datasets=2, datasets_max_mb=8, workers=1) as c:
        store = c.app.state.datasets
        ids = [upload(c, (WORDS + f"\nx{'abc'[i]}").encode(), f"l{i}.txt").json()["id"] for i in range(3)]
        assert len(store._words) == 3  # the default and the last two read
        for i, ds in enumerate(ids):  # the first one comes back from disk
            assert c.get(f"/api/datasets/{ds}").json()["name"] == f"l{i}.txt"
        # two lists of ~4.5 MB: over the 8 MB cap together, so the least recently used goes
        big = [("\n".join(f"{p}{i:06d}".translate(str.maketrans("0123456789", "abcdefghij"))
                          for i in range(560_000))).encode() for p in ("q", "r")]
        first = upload(c, big[0], "big0.txt").json()["id"]
        second = upload(c, big[1], "big1.txt").json()["id"]
        on_disk = {p.stem for p in (tmp_path / "datasets").glob("*.txt")}
        assert second in on_disk and first not in on_disk
        assert sum(p.stat().st_size for p in (tmp_path / "datasets").glob("*")) <= 8 << 20
        assert not list((tmp_path / "datasets").glob(".part-*"))


@pytest.mark.parametrize("body, says", [
    (b"{}", "not a backprop-ninja snapshot"),
    (b"[1, 2, 3]", "not a backprop-ninja snapshot"),
    (b'{"loss": 2.1, "steps": [1, 2]}', "not a backprop-ninja snapshot"),
    (b"{nope", "not JSON"),
])
def test_a_wrong_file_on_import_is_one_sentence(client, body, says):
    r = client.post("/api/sessions/import", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    d = r.json()["detail"]
    assert isinstance(d, str) and says in d and "Export snapshot" in d and ";" not in d, d


def test_a_damaged_snapshot_names_its_first_problem(client):
    sid = client.post("/api/sessions", json={"n_hidden": 8}).json()["id"]
    snap = client.get(f"/api/sessions/{sid}/snapshot").json()
    r = client.post("/api/sessions/import", json={**snap, "step": "ten", "vocab": 3})
    d = r.json()["detail"]
    assert r.status_code == 422 and d.startswith("the snapshot is damaged") and "step" in d and "1 more problem" in d, d
