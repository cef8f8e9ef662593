"""server/'s Python lines now against a base revision, by package (prints,
never asserts).

    python -m benchmarks.server_lines [--base REV]

REV defaults to 56acfe8, main before server/ was split into packages
(issue 26). A file at REV is counted in the package git's rename detection
says it moved to (server/pool.py in live), else by its own name; a module
of server/'s top level is a row of its own. Needs the repository's history
(a clone, not an export)."""
from __future__ import annotations

import argparse
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE = "56acfe8"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


def by_package(files: dict[str, int]) -> Counter:
    out = Counter()
    for path, n in files.items():
        parts = Path(path).parts  # server/<package>/<module>.py or server/<module>.py
        out[parts[1] if len(parts) > 2 else parts[1].removesuffix(".py")] += n
    return out


def moved(rev: str) -> dict[str, str]:
    """{path at rev: its path now} for the files git sees as renamed since."""
    out = git("diff", "-M", "--name-status", "--diff-filter=R", rev, "HEAD", "--", "server").splitlines()
    return {old: new for _, old, new in (ln.split("\t") for ln in out)}


def at(rev: str) -> dict[str, int]:
    paths = [p for p in git("ls-tree", "-r", "--name-only", rev, "server").split() if p.endswith(".py")]
    return {p: git("show", f"{rev}:{p}").count("\n") for p in paths}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=BASE, help=f"the revision to compare with (default {BASE})")
    args = p.parse_args()
    renamed = moved(args.base)
    then = {renamed.get(path, path): n for path, n in at(args.base).items()}
    now = {str(f.relative_to(REPO)): f.read_text().count("\n") for f in (REPO / "server").rglob("*.py")}
    old, new = by_package(then), by_package(now)
    print(f"server/ at {args.base}: {sum(then.values())} lines in {len(then)} files; "
          f"now: {sum(now.values())} lines in {len(now)} files ({sum(now.values()) - sum(then.values()):+d})")
    print(f"  {'package or module':22s} {'then':>6s} {'now':>6s}")
    for name in sorted(set(old) | set(new), key=lambda k: -new[k]):
        print(f"  {name:22s} {old[name] or '':>6} {new[name] or '':>6}")
    largest = max(now, key=now.get)
    print(f"largest file now: {largest}, {now[largest]} lines")


if __name__ == "__main__":
    main()
