"""The server's child processes (server/processes.py) start with the current
folder off sys.path, even when PYTHONPATH holds an empty entry, which names
the current folder (what `PYTHONPATH=$PYTHONPATH:/x` leaves when PYTHONPATH
was unset). Tried with a real training worker started from a folder whose
torch.py raises: the worker comes up only if it imports the real torch."""
from __future__ import annotations

import pickle

import pytest

from backprop_ninja.server import processes
from backprop_ninja.server.live import worker


@pytest.mark.parametrize("pythonpath", [None, ":", ".:/nowhere", "/nowhere::"])
def test_a_child_never_imports_from_the_folder_it_was_started_in(tmp_path, monkeypatch, pythonpath):
    (tmp_path / "torch.py").write_text("raise ImportError('the folder's own torch.py was imported')\n")
    monkeypatch.chdir(tmp_path)
    if pythonpath is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", pythonpath)
    proc, conn = processes.start(worker.__name__)
    try:
        assert conn.poll(120), "the worker said nothing"
        assert pickle.loads(conn.recv_bytes()) == ("ready",)  # EOFError if it died importing torch.py
    finally:
        conn.close()  # the worker reads EOF and ends
        proc.wait(30)
    assert proc.returncode == 0


def test_pythonpath_keeps_only_absolute_entries(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ":/a:rel:/b/c:")
    assert processes.child_env()["PYTHONPATH"] == "/a:/b/c"
    monkeypatch.setenv("PYTHONPATH", "::.")
    assert "PYTHONPATH" not in processes.child_env()
