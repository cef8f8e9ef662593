"""Another checkout's code, for the benchmarks that measure a baseline
beside this tree (`--baseline TREE`).

The repository keeps model/, server/ and frontend/ at its top and installs
them as one package, backprop_ninja.*: a checkout put on sys.path is not
importable under that name (and this checkout's editable install would
answer in its place). `import_root(TREE)` is a folder where it is:
backprop_ninja/ with links to TREE's parts, as a wheel lays them out. A tree
from before the package (issue 26) is run by its old names from itself."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("model", "server", "frontend")


def packaged(tree: Path) -> bool:
    return (tree / "backprop_ninja" / "__init__.py").is_file()


def import_root(tree: Path) -> Path:
    """A folder to put first on sys.path (or PYTHONPATH) to import TREE's code."""
    tree = tree.resolve()
    if not packaged(tree):
        return tree
    root = Path(tempfile.mkdtemp(prefix="bpn-tree-"))
    atexit.register(shutil.rmtree, root, True)
    pkg = root / "backprop_ninja"
    pkg.mkdir()
    for f in (tree / "backprop_ninja").iterdir():
        (pkg / f.name).symlink_to(f)
    for part in PARTS:
        (pkg / part).symlink_to(tree / part, target_is_directory=True)
    return root


def server(tree: Path = REPO) -> tuple[list[str], dict, Path]:
    """(command, environment, working directory) that run TREE's server; this
    tree's is the installed one, as a user runs it."""
    module = "backprop_ninja.server" if packaged(tree) else "server"
    env = dict(os.environ)
    if tree.resolve() != REPO:
        env["PYTHONPATH"] = str(import_root(tree))
    return [sys.executable, "-m", module], env, tree
