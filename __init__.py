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
