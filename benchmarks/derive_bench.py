"""Derive it: attempt -> verdict latency, sandbox included (prints, never asserts).

    python -m benchmarks.derive_bench [--rounds 3] [--learners 30]

Against the real server (uvicorn subprocess on loopback), lecture size:
1. one learner: every node's lecture lines (and dC's double loop) submitted
   one after another, twice over; p50 / p95 of POST /attempts -> verdict,
   against a plain GET of the session state in the same run (the ratio is
   what the sandbox adds to a request);
2. `learners` learners submit at the same moment (a barrier), `rounds`
   times: the slowest and the p95 verdict, and whether all were correct;
   meanwhile another session steps forward/backward: its request latency
   during the burst over its latency just before (targets: every verdict
   within 3 s, others unaffected);
3. the same burst with 5 of the learners sending an endless loop (stopped
   after 2 s of CPU): the other learners' verdict times;
4. a whole pasted exercise-1 cell (POST /cells), the lecture's lines in the
   notebook's order with its cmp lines, with one mistake planted at each of
   the 27 nodes in turn, `rounds` times: p50 / p95 of cell -> verdict, and
   whether the first wrong node reported was the planted one (target p95
   <= 1 s at lecture size, and 27 of 27).

    python -m benchmarks.derive_bench --parts 4     # the cell part alone
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.model import derive  # noqa: E402
from backprop_ninja.model.atomic import LECTURE_ORDER  # noqa: E402
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, branches  # noqa: E402
from benchmarks.live import CLIENT, start_server  # noqa: E402

ENDLESS = "for i in range(10**12):\n    pass"


# One mistake a learner makes at each node of exercise 1, as the node's lines
# (for a node used twice, the first line goes where the `=` line stands and
# the rest where the `+=` line does). tests/server/derive/test_derive_cells.py
# checks the same cells.
PLANTED = {
    "loss": "dloss = -1.0",
    "logprobs": "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0",
    "probs": "dprobs = 1.0 / probs",
    "counts_sum_inv": "dcounts_sum_inv = (counts * dprobs).sum(0, keepdim=True)",
    "counts_sum": "dcounts_sum = (counts_sum**-2) * dcounts_sum_inv",
    "counts": "dcounts = counts_sum_inv * dprobs\ndcounts = torch.ones_like(counts) * dcounts_sum",
    "norm_logits": "dnorm_logits = dcounts",
    "logit_maxes": "dlogit_maxes = (-dnorm_logits).sum(0, keepdim=True)",
    "logits": "dlogits = dnorm_logits.clone()\n"
              "dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1])",
    "h": "dh = W2 @ dlogits.T",
    "W2": "dW2 = dlogits.T @ h",
    "b2": "db2 = dlogits.sum(1)",
    "hpreact": "dhpreact = (1.0 - hpreact**2) * dh",
    "bngain": "dbngain = dhpreact.sum(0, keepdim=True)",
    "bnbias": "dbnbias = dhpreact.sum(1, keepdim=True)",
    "bnraw": "dbnraw = dhpreact",
    "bnvar_inv": "dbnvar_inv = (bnraw * dbnraw).sum(0, keepdim=True)",
    "bnvar": "dbnvar = (0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv",
    "bndiff2": "dbndiff2 = (1.0/n)*torch.ones_like(bndiff2) * dbnvar",
    "bndiff": "dbndiff = bnvar_inv * dbnraw\ndbndiff = (2*bndiff) * dbndiff2",
    "bnmeani": "dbnmeani = dbndiff.sum(0)",
    "hprebn": "dhprebn = dbndiff.clone()\ndhprebn += torch.ones_like(hprebn) * dbnmeani",
    "embcat": "dembcat = dhprebn @ W1",
    "W1": "dW1 = dhprebn.T @ embcat",
    "b1": "db1 = dhprebn.sum(1)",
    "emb": "demb = dembcat.view(n, n_embd, block_size)",
    "C": "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
         "    ix = Xb[k,j]\n    dC[ix] = demb[k,j]",
}


def lecture_cell(planted: str | None = None) -> str:
    """Exercise 1's cell as a learner pastes it: the registry's lines in the
    notebook's order (no dloss: the lecture starts at dlogprobs), then a cmp
    line per node; with `planted`, that node's lines are PLANTED's."""
    lines: list[str] = [] if planted != "loss" else [PLANTED["loss"]]
    for node, branch in LECTURE_ORDER:
        if node == "loss":
            continue
        code = (PLANTED[node] if node == planted else BY_NAME[node].backward).split("\n")
        if branches(node) == 2:  # the `=` line where the first branch stands, the rest at the second
            code = code[:1] if branch == BY_NAME[node].bwd.sources[0] else code[1:]
        lines += code
    lines += [f"cmp('{x}', d{x}, {x})" for x in BACKWARD_ORDER if x != "loss"]
    return "\n".join(lines)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def session(c: httpx.Client) -> str:
    sid = c.post("/api/sessions").json()["id"]
    c.post(f"/api/sessions/{sid}/forward")
    return sid


def attempt(c: httpx.Client, sid: str, node: str, code: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = c.post(f"/api/sessions/{sid}/attempts", json={"node": node, "code": code, "mode": "atomic"})
    return time.perf_counter() - t0, r.json()["verdict"]


def one_learner(base: str) -> None:
    with httpx.Client(base_url=base, timeout=60, headers=CLIENT) as c:
        sid = session(c)
        jobs = [(n, derive.answer("atomic", n)) for n in BACKWARD_ORDER] + [("C", derive.DC_LOOP)]
        attempt(c, sid, *jobs[0])  # warm
        times, gets, wrong = [], [], 0
        for _ in range(2):
            for node, code in jobs:
                t0 = time.perf_counter()
                c.get(f"/api/sessions/{sid}")
                gets.append(time.perf_counter() - t0)
                dt, verdict = attempt(c, sid, node, code)
                times.append(dt)
                wrong += verdict != "correct"
    print(f"1. one learner, {len(times)} attempts: verdict p50 {1e3 * pct(times, .5):.0f} ms, "
          f"p95 {1e3 * pct(times, .95):.0f} ms, max {1e3 * max(times):.0f} ms (target p95 <= 300 ms); "
          f"GET state p50 {1e3 * pct(gets, .5):.1f} ms; ratio p50 {pct(times, .5) / pct(gets, .5):.0f}x; "
          f"not correct: {wrong}")


def other_session(base: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=60, headers=CLIENT) as c:
        sid = c.post("/api/sessions").json()["id"]
        while not stop.is_set():
            t0 = time.perf_counter()
            c.post(f"/api/sessions/{sid}/forward")
            c.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic"})
            c.post(f"/api/sessions/{sid}/update")
            out.append(time.perf_counter() - t0)
        c.delete(f"/api/sessions/{sid}")


def burst(base: str, learners: int, rounds: int, runaways: int = 0) -> None:
    clients = [httpx.Client(base_url=base, timeout=60, headers=CLIENT) for _ in range(learners)]
    sids = [session(c) for c in clients]
    code = derive.answer("atomic", "hprebn")
    # the other session's latency just before the bursts, then during them
    stop, before = threading.Event(), []
    t = threading.Thread(target=other_session, args=(base, stop, before))
    t.start()
    time.sleep(3)
    stop.set()
    t.join()
    stop, during = threading.Event(), []
    t = threading.Thread(target=other_session, args=(base, stop, during))
    t.start()
    times, wrong, slow_runaways = [], 0, []
    with ThreadPoolExecutor(learners) as pool:
        for _ in range(rounds):
            gate = threading.Barrier(learners)

            def go(k: int):
                gate.wait()
                if k < runaways:
                    return ("runaway", *attempt(clients[k], sids[k], "hprebn", ENDLESS))
                return ("learner", *attempt(clients[k], sids[k], "hprebn", code))
            for kind, dt, verdict in pool.map(go, range(learners)):
                if kind == "runaway":
                    slow_runaways.append(dt)
                    continue
                times.append(dt)
                wrong += verdict != "correct"
    stop.set()
    t.join()
    for c, sid in zip(clients, sids):
        c.delete(f"/api/sessions/{sid}")
        c.close()
    label = f"{learners} learners at once" + (f", {runaways} of them endless loops" if runaways else "")
    print(f"{'3' if runaways else '2'}. {label}, {rounds} rounds: verdict p50 {1e3 * pct(times, .5):.0f} ms, "
          f"p95 {1e3 * pct(times, .95):.0f} ms, max {1e3 * max(times):.0f} ms (target max <= 3000 ms); "
          f"not correct: {wrong}" + (f"; runaways stopped after {statistics.median(slow_runaways):.1f} s" if runaways else ""))
    print(f"   another session's forward+backward+update: {1e3 * statistics.median(before):.0f} ms before, "
          f"{1e3 * statistics.median(during):.0f} ms during (ratio {statistics.median(during) / statistics.median(before):.2f})")


def cells(base: str, rounds: int) -> None:
    with httpx.Client(base_url=base, timeout=60, headers=CLIENT) as c:
        sid = session(c)
        c.post(f"/api/sessions/{sid}/cells", json={"mode": "atomic", "code": lecture_cell()})  # warm
        times, hits, missed = [], 0, []
        for _ in range(rounds):
            for node in BACKWARD_ORDER:
                t0 = time.perf_counter()
                r = c.post(f"/api/sessions/{sid}/cells", json={"mode": "atomic", "code": lecture_cell(node)})
                times.append(time.perf_counter() - t0)
                got = r.json().get("first_wrong")
                hits += got == node
                if got != node:
                    missed.append(f"{node} -> {got}")
        c.delete(f"/api/sessions/{sid}")
    print(f"4. a pasted exercise-1 cell, one mistake planted at each of the {len(BACKWARD_ORDER)} nodes, "
          f"{len(times)} cells: verdict p50 {1e3 * pct(times, .5):.0f} ms, p95 {1e3 * pct(times, .95):.0f} ms, "
          f"max {1e3 * max(times):.0f} ms (target p95 <= 1000 ms); first wrong node = the planted one: "
          f"{hits} of {len(times)}" + (f" (missed: {', '.join(missed)})" if missed else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--parts", default="1234", help="which parts to run, e.g. 4 for the cells alone")
    args = ap.parse_args()
    proc, base = start_server()
    try:
        if "1" in args.parts:
            one_learner(base)
        if "2" in args.parts:
            burst(base, args.learners, args.rounds)
        if "3" in args.parts:
            burst(base, args.learners, 1, runaways=5)
        if "4" in args.parts:
            cells(base, args.rounds)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
