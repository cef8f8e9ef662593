"""`python -m backprop_ninja.check my_exercise.ipynb`: run a saved notebook top to
bottom in a kernel and print the table of the last `bpn.check` of each exercise
(or of a check of its final namespace). Exit code 0: nothing wrong; 1: a wrong gradient; 2: the
notebook could not be checked (no such file, a cell raised).

Imported, this module is also callable: `backprop_ninja.check(globals())` is the
function `backprop_ninja.notebook.check.check`, whether or not this module was
imported (importing a submodule makes it the package's attribute `check`)."""
from __future__ import annotations

import sys
import types


def main(argv: list[str] | None = None) -> int:
    from backprop_ninja.notebook.cli import main as run
    return run(argv)


class _CallableModule(types.ModuleType):
    def __call__(self, ns=None, exercise=None, **tensors):
        from backprop_ninja.notebook.check import check
        return check(ns, exercise, _depth=2, **tensors)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
