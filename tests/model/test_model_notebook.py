"""The notebook recipe of docs/notebook.md (once in the README) runs as written, and MLP's docstring too:
the lecture's audience works in Jupyter, so the documented calls must work."""
import re
from pathlib import Path

from backprop_ninja.model import mlp

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    ns: dict = {}
    exec(compile(code.replace("m.train(10_000)", "m.train(200)").replace("m.train(1000)", "m.train(200)"),
                 "<notebook>", "exec"), ns)
    return ns


def test_readme_notebook_block_runs():
    text = (ROOT / "docs" / "notebook.md").read_text()
    block = re.search(r"## From a notebook.*?```python\n(.*?)```", text, re.S).group(1)
    ns = _run(block)
    m = ns["m"]
    assert m.step == 201  # one update() and 200 train steps
    assert len(m.sample_names(3)) == 3


def test_mlp_docstring_recipe_runs():
    lines = [ln.strip() for ln in mlp.__doc__.splitlines() if ln.startswith("    ")]
    ns = _run("\n".join(ln.split("  #")[0] for ln in lines))
    m = ns["m"]
    assert m.cfg.dtype == "float64" and m.step == 201
    assert m.calibration is not None


def test_train_returns_the_losses_shown_in_one_line():
    from backprop_ninja.model import MLP, Config, TrainResult
    m = MLP(Config(n_hidden=16))
    r = m.train(300)
    assert isinstance(r, TrainResult) and len(r) == 300 and r.losses == list(r) and r.step == 300
    assert all(isinstance(x, float) for x in r) and r == MLP(Config(n_hidden=16)).train(300)  # a list of losses
    shown = repr(r)
    assert "\n" not in shown and len(shown) < 160, shown
    assert shown.startswith("TrainResult(300 steps to step 300 in ") and f"{r[-1]:.4f}" in shown
    assert repr(m.train(0)) == "TrainResult(0 steps, at step 300)"


def test_train_runs_on_one_thread_and_gives_the_count_back():
    import torch

    from backprop_ninja.model import MLP, Config
    m = MLP(Config(n_hidden=8))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # the user's own setting, for their other work
        seen = []
        r = m.train(3, callback=lambda step, loss: seen.append(torch.get_num_threads()))
        assert seen == [1, 1, 1] and r.threads == 1
        assert torch.get_num_threads() == 2  # given back
        seen.clear()
        m.train(2, callback=lambda step, loss: seen.append(torch.get_num_threads()), threads=None)
        assert seen == [2, 2]  # None: as torch is set
    finally:
        torch.set_num_threads(before)
