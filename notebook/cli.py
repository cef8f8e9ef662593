"""`python -m backprop_ninja.check my_exercise.ipynb`: the check of a saved notebook,
offline. The notebook runs top to bottom in a fresh kernel (nbclient; the kernel
is this very interpreter, whatever kernelspecs the user has, with the notebook's
folder as its working directory, so a names.txt beside it is found), then the
table of the last `bpn.check(...)` of each exercise is printed, in the
exercises' order: a notebook checks exercise 1, then 2, 3 and 4, and a mistake
in exercise 1 must not hide behind exercise 4's table of to-dos. A notebook
without a check cell gets a check of its final namespace.

Exit codes: 0 nothing written is wrong, 1 a gradient is wrong (or affected by
one) in any of the tables, 2 the notebook could not be checked: no such file,
not a notebook, no kernel, or a cell raised (the sentence says which and why).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

META = "backprop_ninja"  # the key of check's display metadata (check.Report.metadata)
FINAL_CELL = "import backprop_ninja as _bpn_cli\n_bpn_cli.check(globals(){exercise})"


class Failed(Exception):
    """The notebook could not be checked: the message says why (exit code 2)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backprop_ninja.check",
        description="Run a saved notebook of the lecture's exercise top to bottom in a kernel and print the "
                    "table of the last bpn.check of each exercise (or of a check of its final namespace).")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--exercise", type=int, choices=(1, 2, 3, 4),
                   help="print this exercise's table only: the notebook's last check of it, else a check of "
                        "the final namespace")
    # no limit by default: exercise 4's finished cell trains 200,000 steps, about ten minutes on a laptop
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one cell may run (default: no limit)")
    return p


def _load(path: Path):
    import nbformat
    if not path.is_file():
        raise Failed(f"No notebook at {path}: give the path of a saved .ipynb file.")
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as err:  # nbformat raises several kinds for a file that is not a notebook
        raise Failed(f"{path} is not a notebook that Jupyter can read ({type(err).__name__}): save it from "
                     "Jupyter as .ipynb.") from None


def _check_outputs(cell) -> list[tuple[str, dict]]:
    """(text, metadata) of every check display in a cell's outputs, in order."""
    found = []
    for out in cell.get("outputs", []):
        meta = out.get("metadata", {}).get(META)
        if out.get("output_type") == "display_data" and meta and meta.get("kind") == "check":
            found.append((out["data"]["text/plain"], meta))
    return found


def this_python():
    """A kernel manager class whose kernel is this interpreter (sys.executable), never a kernelspec named
    python3 that the user installed for another Python: the check must run where backprop_ninja is."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(AsyncKernelManager):
        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    display_name=f"Python {sys.version_info.major} ({sys.executable})", language="python")
            return self._kernel_spec

    return ThisPython


def _cell_error(err, index: int, code_index: int) -> str:
    """A sentence for the cell that raised."""
    name = getattr(err, "ename", type(err).__name__)
    value = getattr(err, "evalue", str(err))
    where = f"Cell {index + 1} (code cell {code_index})"
    if name == "CheckError":
        return f"{where}: check could not run: {value}"
    return (f"{where} raised {name}: {value}. Fix that cell (or run the notebook up to it in Jupyter to see "
            "the traceback), then check again.")


def run(path: Path, exercise: int | None, timeout: float | None) -> list[tuple[str, dict]]:
    """Execute the notebook; [(text, metadata)] of the checks to print: the last of each exercise, in the
    exercises' order (only `exercise`'s when given)."""
    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError:
        raise Failed("Running a notebook needs nbclient, nbformat and ipykernel: "
                     "pip install 'backprop-ninja[notebook]'.") from None
    nb = _load(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=this_python(),
                            allow_errors=False, resources={"metadata": {"path": str(path.parent.resolve())}})
    last: dict[int, tuple[str, dict]] = {}  # exercise -> its last check
    log = tempfile.TemporaryFile("w+")  # the kernel's own stderr: its warnings stay out of the table
    try:
        with log, client.setup_kernel(stderr=log):
            code = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                code += 1
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as err:
                    raise Failed(_cell_error(err, index, code)) from None
                last.update((meta["exercise"], (text, meta)) for text, meta in _check_outputs(cell))
            if exercise is not None:
                last = {k: x for k, x in last.items() if k == exercise}
            if not last:
                extra = __import__("nbformat").v4.new_code_cell(
                    FINAL_CELL.format(exercise="" if exercise is None else f", exercise={exercise}"))
                nb.cells.append(extra)
                try:
                    client.execute_cell(extra, len(nb.cells) - 1)
                except CellExecutionError as err:
                    name, value = getattr(err, "ename", ""), getattr(err, "evalue", str(err))
                    raise Failed(f"check could not run on the notebook's final state: {value}" if name == "CheckError"
                                 else f"check failed on the notebook's final state: {name}: {value}") from None
                last = dict((meta["exercise"], (text, meta)) for text, meta in _check_outputs(extra))
    except Failed:
        raise
    except Exception as err:  # no kernel, a dead kernel, a timeout: one sentence, not nbclient's traceback
        raise Failed(f"The notebook could not be run in a kernel: {type(err).__name__}: {err}".rstrip()
                     + _tail(log)) from None
    if not last:
        raise Failed("The notebook ran, but check showed no table (was its output cleared?).")
    return [last[k] for k in sorted(last)]


def _tail(log) -> str:
    """The last lines the kernel wrote to stderr, when it failed."""
    try:
        log.seek(0)
        lines = [ln for ln in log.read().splitlines() if ln.strip()][-3:]
    except (OSError, ValueError):  # closed already
        return ""
    return ("\nThe kernel said: " + " / ".join(lines)) if lines else ""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        tables = run(Path(args.notebook), args.exercise, args.timeout)
    except Failed as err:
        print(err, file=sys.stderr)
        return 2
    print("\n\n".join(text for text, _ in tables))
    bad = any(meta.get("wrong", 0) or meta.get("affected", 0) for _, meta in tables)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
