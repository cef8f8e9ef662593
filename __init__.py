"""backprop-ninja: the lecture "Becoming a Backprop Ninja" (makemore part 4),
its backward pass written by hand, node by node, and watched in a browser.

The repository is this package: this file is at its top, beside the three
parts that installing maps here (pyproject.toml, package-dir):

- `backprop_ninja.model`: the lecture's network in torch alone, every
  gradient by hand (`from backprop_ninja.model import MLP, Config`);
  `python -m backprop_ninja.model.train` trains it from the command line.
- `backprop_ninja.server`: the web app (`backprop-ninja` starts it).
- `backprop_ninja.frontend`: the two pages, as package data.
"""

# In a notebook: `import backprop_ninja as bpn; bpn.check(globals())`, `bpn.hint("dhprebn", 2)`,
# `bpn.show(globals())`. Loaded on first use, so `import backprop_ninja.server` stays as light as it
# was, and `python -m backprop_ninja.check` finds its module not yet imported (no runpy warning).
_NOTEBOOK = {"check", "report", "hint", "show", "Report", "CheckError"}


def __getattr__(name: str):
    if name in _NOTEBOOK:
        from . import notebook
        return getattr(notebook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
