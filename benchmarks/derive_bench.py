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
   after 2 s of CPU): the other learners' verdict times.
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
from backprop_ninja.model.graph import BACKWARD_ORDER  # noqa: E402
from benchmarks.live import CLIENT, start_server  # noqa: E402

ENDLESS = "for i in range(10**12):\n    pass"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--learners", type=int, default=30)
    args = ap.parse_args()
    proc, base = start_server()
    try:
        one_learner(base)
        burst(base, args.learners, args.rounds)
        burst(base, args.learners, 1, runaways=5)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
