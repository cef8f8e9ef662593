"""backprop-ninja: the lecture "Becoming a Backprop Ninja" (makemore part 4),
its backward pass written by hand, node by node, and watched in a browser.

One package, three parts; the repository keeps each at its top level and
installing maps them here:

- `backprop_ninja.model`: the lecture's network in torch alone, every
  gradient by hand (`from backprop_ninja.model import MLP, Config`);
  `python -m backprop_ninja.model.train` trains it from the command line.
- `backprop_ninja.server`: the web app (`backprop-ninja` starts it).
- `backprop_ninja.frontend`: the two pages, as package data.
"""
