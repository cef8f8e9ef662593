"""server/'s size against issue #12's starting point (prints, never asserts).

    python -m benchmarks.server_lines

#12 asked for server/ 800 lines shorter than its 3,504 (commit FILED) with
the same features. Four issues have added features since (#13 safety, #14
shared links, #15 teaching fidelity, #16 derive it yourself, #17 rooms), so
the total alone says nothing. Printed:
1. the live-training plumbing then (six modules and stepping.py) and now;
2. server/ now, each line by the commit that last wrote it (git blame):
   the later issues' branches and their merges; later features written on
   main (in modules only they use, or by the commits in ON_MAIN); the rest,
   #12's features (an upper bound: a clean-up's line counts as #12's, and
   so does the later code of commits not listed in ON_MAIN).
Needs the repository's history (a clone, not an export)."""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILED = "70616c4"  # server/ was 3,504 lines when #12 was filed
OLD_PLUMBING = ["player", "remote", "trainer", "pipes", "framebuilder", "valloss", "stepping"]
PLUMBING = ["pool", "worker", "stepping"]
LATER_BRANCH = re.compile(r"issue-1[3-7]")
ON_MAIN = {  # later features written on main, in modules #12's features share
    "28b8651": "#14: a shared link trained once (trajectories.py, and its parts in session, history, replay)",
    "e613697": "#14: nothing else moves a session while its link is rebuilt",
    "2142362": "the stepper's SummaryCache (a frame reuses unchanged summaries)",
    "0919cde": "#16: one derive attempt at a time per session",
    "4a92e98": "#16: merge fixes (derive's modes)",
    "e330b0c": "#13/#16: merge fixes (attempts' code within the body cap)",
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


def lines_at(rev: str, path: str) -> int:
    return git("show", f"{rev}:{path}").count("\n")


def main() -> None:
    then = [p for p in git("ls-tree", "-r", "--name-only", FILED, "server").split() if p.endswith(".py")]
    now = sorted(str(p.relative_to(REPO)) for p in (REPO / "server").rglob("*.py"))
    total_then = sum(lines_at(FILED, p) for p in then)
    old = sum(lines_at(FILED, f"server/{m}.py") for m in OLD_PLUMBING)
    new = sum((REPO / f"server/{m}.py").read_text().count("\n") for m in PLUMBING)
    print(f"server/ at {FILED} (#12 filed): {total_then} lines; live-training plumbing {old}")
    print(f"plumbing now ({', '.join(PLUMBING)}): {new} lines = {new / old:.2f} of then (target: a third)")

    merges = [ln.split()[0] for ln in git("log", "--merges", "--format=%H %s", f"{FILED}..HEAD").splitlines()
              if LATER_BRANCH.search(ln)]
    later = set(merges)
    for m in merges:
        later.update(git("rev-list", f"{m}^1..{m}^2").split())
    on_main = {git("rev-parse", c).strip() for c in ON_MAIN}
    by = Counter()
    for path in now:
        shas = re.findall(r"^([0-9a-f]{40}) \d+ \d+", git("blame", "--line-porcelain", path), re.M)
        only_later = path not in then and path not in {f"server/{m}.py" for m in PLUMBING}
        for s in shas:
            if s in later:
                by["later issues' branches"] += 1
            elif only_later or s in on_main:
                by["later features written on main"] += 1
            else:
                by["the rest"] += 1
    print(f"server/ now: {sum(by.values())} lines, by the commit that last wrote each:")
    for k in ("later issues' branches", "later features written on main", "the rest"):
        print(f"  {k:34s} {by[k]:5d}")
    rest = by["the rest"]
    print(f"#12's features now: at most {rest} lines, {rest - total_then:+d} against {total_then} (target -800)")


if __name__ == "__main__":
    main()
