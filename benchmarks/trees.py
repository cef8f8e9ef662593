"""Another checkout's code, for the benchmarks that measure a baseline
beside this tree (`--baseline TREE`).

The repository is the package backprop_ninja (its __init__.py at the top),
installed here editable: a checkout's own folder name is not
`backprop_ninja`, and this checkout's install would answer in its place.
`import_root(TREE)` is a folder where `import backprop_ninja` is TREE's
code: it holds one link, backprop_ninja -> TREE. A tree from before the
package (issue 26) is run by its old names from itself."""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def packaged(tree: Path) -> bool:
    return (tree / "__init__.py").is_file() and (tree / "server" / "__init__.py").is_file()


def import_root(tree: Path) -> Path:
    """A folder to put first on sys.path (or PYTHONPATH) to import TREE's code."""
    tree = tree.resolve()
    if not packaged(tree):
        return tree
    root = Path(tempfile.mkdtemp(prefix="bpn-tree-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "backprop_ninja").symlink_to(tree, target_is_directory=True)
    return root


def server(tree: Path = REPO) -> tuple[list[str], dict, Path]:
    """(command, environment, working directory) that run TREE's server, its
    child processes too; this tree's is the installed one, as a user runs it."""
    tree = tree.resolve()
    env = dict(os.environ)
    if tree == REPO:
        return [sys.executable, "-m", "backprop_ninja.server"], env, REPO
    if not packaged(tree):
        return [sys.executable, "-m", "server"], {**env, "PYTHONPATH": str(tree)}, tree
    root = import_root(tree)
    env["PYTHONPATH"] = str(root)  # for the -P children, which do not look in the working directory
    where = subprocess.run([sys.executable, "-c", "import backprop_ninja.server as s; print(s.__file__)"],
                           cwd=root, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree):
        raise SystemExit(f"{tree}: its server would be imported from {where}, not from the tree")
    return [sys.executable, "-m", "backprop_ninja.server"], env, root
