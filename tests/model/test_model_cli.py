"""`python -m backprop_ninja.model.train` and `python -m backprop_ninja.model.bench`, as a user runs them."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_ninja.model import bench, train

REPO = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"train", "val", "test", "steps", "steps_per_sec", "params", "samples", "config",
               "seconds", "final_batch_loss"}
WORDS = ["Zoë", "anna", "bob", "chloé", "dmitri", "eve", "fiona", "gus", "ida", "jürgen", "kim", "lou"]


def _run(module: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def _params(n_hidden: int, vocab: int, n_embd: int = 10, block: int = 3) -> int:
    return vocab * n_embd + block * n_embd * n_hidden + n_hidden + n_hidden * vocab + vocab + 2 * n_hidden


def _check_report(report: dict, vocab: int) -> None:
    assert REPORT_KEYS <= set(report)
    assert report["steps"] == 300 and report["params"] == _params(32, vocab)
    assert report["config"]["n_hidden"] == 32 and report["config"]["lr_decay_step"] == 150
    assert report["steps_per_sec"] > 0 and report["seconds"] > 0
    # a dozen words overfit: only the train loss has to be low
    assert all(math.isfinite(report[s]) and report[s] > 0 for s in ("train", "val", "test"))
    assert report["train"] < 3.0
    assert len(report["samples"]) == 10 and all(isinstance(s, str) for s in report["samples"])
    assert report["final_batch_loss"] < report["initial_batch_loss"]


def test_train_cli_builtin_data(tmp_path):
    out = _run("backprop_ninja.model.train", "--steps", "300", "--n-hidden", "32", "--report", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    _check_report(report, vocab=27)
    assert report["config"]["seed"] == 2147483647 and report["config"]["dtype"] == "float32"
    assert "train" in out.stdout and report["samples"][0] in out.stdout


def test_train_cli_custom_word_list(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    out = _run("backprop_ninja.model.train", "--steps", "300", "--n-hidden", "32", "--data", str(words),
               "--report", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    vocab = len(set("".join(WORDS))) + 1
    assert report["words"] == len(WORDS) and len(report["vocab"]) == vocab
    _check_report(report, vocab)


def test_train_cli_bad_data_exits_2_in_one_line(tmp_path):
    out = _run("backprop_ninja.model.train", "--data", str(tmp_path / "missing.txt"), "--steps", "10")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not found" in lines[0] and "missing.txt" in lines[0]


@pytest.mark.parametrize("args,expected", [
    (["--steps", "0"], "--steps"),
    (["--steps", "many"], "whole number"),
    (["--dtype", "float16"], "float16"),
    (["--backward", "sideways"], "sideways"),
    (["--batch-size", "1"], "batch_size"),
    (["--lr", "0"], "--lr"),
    (["--no-such-flag"], "unrecognized"),
    (["--report", "/no/such/dir/r.json"], "does not exist"),
    (["--data", "."], "directory"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--samples", "-2"], "--samples"),
    (["--lr", "inf"], "--lr"),
])
def test_train_cli_bad_arguments(capsys, args, expected):
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err


def test_train_cli_bad_word_list_in_process(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"anna\nbob\n\xff\xfe\n")
    assert train.main(["--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "UTF-8" in err


def test_bench_cli_prints_every_shape_and_variant(tmp_path):
    out = _run("backprop_ninja.model.bench", "--seconds", "0.02", "--rounds", "1", "--json", str(tmp_path / "b.json"))
    assert out.returncode == 0, out.stderr
    for variant in bench.VARIANTS:
        assert variant in out.stdout
    rows = [line.split() for line in out.stdout.splitlines()]
    shapes = [(int(r[0]), int(r[1])) for r in rows if len(r) > 2 and r[0].isdigit()]
    assert shapes == [(32, 64), (32, 200), (1024, 200)]
    assert out.stdout.count("PASS") + out.stdout.count("FAIL") == 3
    result = json.loads((tmp_path / "b.json").read_text())
    for row in result["rows"]:
        assert set(row["steps_per_sec"]) == set(bench.VARIANTS) and row["ratio"]["autograd"] == 1.0
        assert all(v > 0 for v in row["steps_per_sec"].values())


def test_train_cli_reports_divergence_without_crashing(tmp_path, capsys):
    report = tmp_path / "r.json"
    assert train.main(["--steps", "40", "--n-hidden", "8", "--lr", "1e30", "--report", str(report)]) == 0
    assert "diverged" in capsys.readouterr().err
    data = json.loads(report.read_text())  # strict JSON: NaN became null
    assert data["final_batch_loss"] is None and data["val"] is None and data["samples"] == []
