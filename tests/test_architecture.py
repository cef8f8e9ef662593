"""The layout of docs/architecture.md is the code's: its table of which
package imports which holds both ways (no import it lacks, no row naming an
import nobody makes), each package's docstring says the same, the table names
every package of the server once, in an order with no import pointing down
it, and no server file outgrows the size a newcomer can read. The table is
read from the document itself, so the picture a newcomer reads is the one
the code keeps."""
from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PARTS = {"model": REPO / "model", "server": REPO / "server", "notebook": REPO / "notebook"}  # installed as backprop_ninja.<part>
NOTHING = "(nothing of ours)"
MODEL_THIRD_PARTY = {"torch", "numpy", "names", "tqdm"}
MAX_LINES = 400  # issue 26: no file of server/ longer; most stay under ~300


def rule() -> dict[str, set[str]]:
    """{package: the packages it imports}, from the document's table, in its order."""
    table = DOC.read_text().split("## Packages, and which may import which", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            name = cells[0].strip("`")
            assert name not in rows, f"docs/architecture.md names {name} twice"
            rows[name] = set() if cells[2] == NOTHING else set(re.findall(r"`([\w.]+)`", cells[2]))
    return rows


def modules() -> dict[str, Path]:
    """Every module of model/ and server/ by its dotted name under backprop_ninja (without the prefix)."""
    out = {}
    for part, root in PARTS.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("").parts
            out[".".join((part, *rel)).removesuffix(".__init__")] = path
    return out


MODULES = modules()


def unit(name: str, rows: dict) -> str | None:
    """The table's row a module belongs to: the longest row name it starts with."""
    hits = [r for r in rows if name == r or name.startswith(r + ".")]
    return max(hits, key=len) if hits else None


def imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of ours in the file, as our module names
    (without the backprop_ninja prefix); an import by one of the old bare
    names (`model`, `server`, `frontend`) is kept as "bare:<name>"."""
    pkg = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"backprop_ninja.{mod}.{a.name}" for a in node.names]
            else:
                targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            top = t.split(".")[0]
            if top == "backprop_ninja":
                t = t.removeprefix("backprop_ninja.")
                while t not in MODULES and "." in t:  # `from x import name`: the module x
                    t = t.rpartition(".")[0]
                found.append((node.lineno, t))
            elif top in (*PARTS, "frontend"):
                found.append((node.lineno, f"bare:{t}"))
    return found


def edges() -> tuple[dict[str, set[str]], list[str]]:
    """The imports between rows that the code makes, and every import that fits no row."""
    rows, made, stray = rule(), defaultdict(set), []
    for name, path in sorted(MODULES.items()):
        mine = unit(name, rows)
        for line, target in imports(name, path):
            theirs = unit(target, rows)
            where = f"{path.relative_to(REPO)}:{line}"
            if target.startswith("bare:"):
                stray.append(f"{where}: imports {target[5:]}: name it backprop_ninja.{target[5:]}")
            elif mine is None or theirs is None:
                stray.append(f"{where}: {name} -> {target}: not in the table")
            elif theirs != mine:
                made[mine].add(theirs)
    return made, stray


def test_every_import_is_in_the_table_and_every_row_is_imported():
    rows = rule()
    assert rows, "no table read from docs/architecture.md"
    made, stray = edges()
    assert not stray, "\n".join(stray)
    lacking = [f"{a} imports {sorted(made[a] - rows[a])}, which its row does not name" for a in rows if made[a] - rows[a]]
    unused = [f"{a}'s row names {sorted(rows[a] - made[a])}, which it never imports" for a in rows if rows[a] - made[a]]
    assert not lacking + unused, "docs/architecture.md's table and the code differ:\n" + "\n".join(lacking + unused)


def test_the_table_names_every_package_and_module_of_the_server():
    rows = rule()
    tops = {f"server.{p.stem}" for p in PARTS["server"].glob("*.py") if p.name != "__init__.py"}
    packages = {f"server.{p.parent.name}" for p in PARTS["server"].glob("*/__init__.py")}
    assert tops | packages | {"model", "notebook"} == set(rows), "docs/architecture.md's table and server/ differ"


def test_the_tables_order_is_the_stack():
    """Each row imports only rows above it: no cycle, and the order reads bottom up."""
    rows = rule()
    order = list(rows)
    for i, (name, allowed) in enumerate(rows.items()):
        later = allowed & set(order[i:])
        assert not later, f"{name} imports {later}, which come at or after it in the table"


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


@pytest.mark.parametrize("package", sorted(p.parent for p in PARTS["server"].glob("*/__init__.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_each_package_says_what_it_owns_and_imports(package: Path):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    where = f"{package.relative_to(REPO)}/__init__.py"
    assert re.search(r"^Owns: \S.*", doc, re.M), f"{where}: say what it owns on an `Owns:` line"
    said = re.search(r"^Imports: (.*?)\.?$", doc, re.M)
    assert said, f"{where}: say what it imports on an `Imports:` line"
    names = {re.sub(r"\s*\(.*\)", "", n).strip() for n in said.group(1).split(",")}
    names = {n if n == "model" else f"server.{n}" for n in names}
    row = rule()[f"server.{package.name}"]
    assert names == row, f"{where} says it imports {sorted(names)}; docs/architecture.md's row says {sorted(row)}"


def test_no_server_file_outgrows_a_read():
    long = {str(p.relative_to(REPO)): n for p in PARTS["server"].rglob("*.py")
            if (n := p.read_text().count("\n")) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: split by concern before adding: {long}"
