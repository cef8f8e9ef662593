"""backprop_ninja.notebook: the lecture's exercise checked in the learner's own
notebook (Jupyter, VS Code, Colab) and from the command line.

- `check(globals())`: every d... variable written so far against the true
  gradient of the learner's own forward tensors, the first wrong node and its
  named mistake, the nodes affected by it, what is still to do (check.py,
  reading the namespace in find.py, drawn by render.py);
- `hint("dhprebn", 2)`: Derive it's hints for the notebook's sizes;
- `show(globals())`: the compute graph with the learner's gradients, a widget
  (widget.py, imported only when called: anywidget is needed there alone);
- `python -m backprop_ninja.check my.ipynb`: a saved notebook run in a kernel,
  then its table (cli.py).

Imports: model.
"""
from .check import Report, Row, check, hint, report
from .find import CheckError

__all__ = ["check", "report", "hint", "show", "Report", "Row", "CheckError"]


def __getattr__(name: str):
    if name == "show":  # the widget's module needs anywidget: loaded on first use only
        from .widget import show
        return show
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
