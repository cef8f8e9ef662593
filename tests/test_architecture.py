"""The import rule of docs/architecture.md holds: every import in model/ and
server/ goes where the table there allows, the table names every package of
the server, and each package says what it owns. The table is read from the
document itself, so the picture a newcomer reads is the one the code keeps."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PARTS = {"model": REPO / "model", "server": REPO / "server"}  # installed as backprop_ninja.<part>
NOTHING = "(nothing of ours)"
MODEL_THIRD_PARTY = {"torch", "numpy", "names", "tqdm"}


def rule() -> dict[str, set[str]]:
    """{package: the packages it may import}, from the document's table."""
    table = DOC.read_text().split("## Packages, and which may import which", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            allowed = set() if cells[2] == NOTHING else set(re.findall(r"`([\w.]+)`", cells[2]))
            rows[cells[0].strip("`")] = allowed
    return rows


def modules() -> dict[str, Path]:
    """Every module of model/ and server/ by its dotted name under backprop_ninja (without the prefix)."""
    out = {}
    for part, root in PARTS.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("").parts
            name = ".".join((part, *rel))
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def unit(name: str, rows: dict) -> str | None:
    """The table's row a module belongs to: the longest row name it starts with."""
    hits = [r for r in rows if name == r or name.startswith(r + ".")]
    return max(hits, key=len) if hits else None


def imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of ours in the file, as our module names."""
    pkg = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name.removeprefix("backprop_ninja.") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module.removeprefix("backprop_ninja.")
            # `from x import y` where x.y is a module imports that module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        found += [(node.lineno, t) for t in targets if t.split(".")[0] in (*PARTS, "frontend", "backprop_ninja")]
    return found


def test_every_import_goes_where_the_table_allows():
    rows = rule()
    assert rows, "no table read from docs/architecture.md"
    wrong = []
    for name, path in sorted(MODULES.items()):
        mine = unit(name, rows)
        for line, target in imports(name, path):
            theirs = unit(target, rows)
            if mine is None or theirs is None:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {name} -> {target}: not in the table")
            elif theirs != mine and theirs not in rows[mine]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {mine} may not import {theirs} ({target})")
    assert not wrong, "\n".join(wrong)


def test_the_table_names_every_package_and_module_of_the_server_once():
    rows = rule()
    tops = {f"server.{p.stem}" for p in PARTS["server"].glob("*.py") if p.name != "__init__.py"}
    packages = {f"server.{p.parent.name}" for p in PARTS["server"].glob("*/__init__.py")}
    assert tops | packages | {"model"} == set(rows), "docs/architecture.md's table and server/ differ"
    for allowed in rows.values():
        assert allowed <= set(rows), allowed - set(rows)


def test_the_table_has_no_cycle():
    """Each row may import only rows above it: the order of the table is the stack."""
    rows = rule()
    order = list(rows)
    for i, (name, allowed) in enumerate(rows.items()):
        later = allowed & set(order[i:])
        assert not later, f"{name} may import {later}, which come at or after it in the table"


def test_model_imports_no_web_code():
    stdlib = set(sys.stdlib_module_names)
    for name, path in MODULES.items():
        if not name.startswith("model"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = {node.module.split(".")[0]}
            else:
                continue
            outside = tops - stdlib - MODEL_THIRD_PARTY - {"backprop_ninja"}
            assert not outside, f"{path.relative_to(REPO)}:{node.lineno} imports {outside}"


@pytest.mark.parametrize("package", sorted(p.parent for p in PARTS["server"].rglob("__init__.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_each_package_says_what_it_owns(package: Path):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 12, f"{package.relative_to(REPO)}/__init__.py: say what it owns"
