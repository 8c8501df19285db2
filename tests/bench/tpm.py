"""Issue 17's benchmark: throughput under binding token budgets (tpm) against the token bound,
and the estimator's error (tokens reserved against tokens settled) per model.

    nice .venv/bin/python -m tests.bench.tpm --run 1 --out docs/bench/tpm-2026-12-01/run-1.json

Three models with different prompt and completion sizes, each with a tpm far below what its
backlog and concurrency could use (requests per minute never bind), served by 4 `llmlb work`
processes for --seconds. The simulated backend enforces the same token quotas (tpm, tpm_burst),
so a 429 there would show llmlb overrunning a budget. Per model, counted at the backend from
its own usage figures over the steady part of the run (from the first answer to the end of
claiming): the tokens received, the token bound tpm x D / 60 + burst over that span D, their
ratio, and the largest 1 s and 5 s windows against tpm x W / 60 + burst. From llmlb's call log:
tokens reserved and settled over the answered calls (the estimator's error) and how many calls
took more than they reserved. Also registered as run_all's optional scenario `tpm`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.bench"

import psycopg  # noqa: E402

from . import common as C  # noqa: E402

# model: (tpm, tpm_burst, output_tokens range at the backend, backend median latency s)
BUDGETS = {
    "t0": (60000, 5000, (16, 256), 0.6),
    "t1": (30000, 3000, (8, 64), 0.3),
    "t2": (120000, 10000, (64, 512), 1.0),
}
SIZES = (20, 80, 200, 400, 800, 1600, 3200)  # prompt bytes: 5 to 800 tokens


def _prompts(rng: random.Random, model: str, n: int) -> list[str]:
    out = []
    for i in range(n):
        size = rng.choice(SIZES)
        head = f"{model} task {i}: "
        tail = f" [out={rng.randint(300, 900)}]" if model == "t2" and i % 10 == 0 else ""
        out.append(head + "y" * max(0, size - len(head) - len(tail)) + tail)
    return out


def _max_window(events: list[tuple[float, int]], w: float) -> int:
    events = sorted(events)
    best = total = j = 0
    for i, (t, _) in enumerate(events):
        while j < len(events) and events[j][0] < t + w:
            total += events[j][1]
            j += 1
        best = max(best, total)
        total -= events[i][1]
    return best


def run(seconds: float = 60.0, procs: int = 4, seed: int = 17, workdir: Path | None = None,
        log=print) -> dict:
    """One run; returns the JSON-ready result."""
    rng = random.Random(seed)
    d = (workdir or Path("/tmp/llmlb-bench")) / f"tpm-{int(time.time())}"
    d.mkdir(parents=True, exist_ok=True)
    models = {m: {"median": lat, "sigma": 0.4, "output_tokens": list(out), "tpm": tpm,
                  "tpm_burst": burst} for m, (tpm, burst, out, lat) in BUDGETS.items()}
    with C.fresh_db("tpm") as url, C.backend(d, 1.0, seed, models={"models": models},
                                             min_latency=0.02) as b:
        for m, (tpm, burst, _, _) in BUDGETS.items():
            C.llmlb(url, "limits", "set", m, "--rpm", "60000", "--burst", "1000",
                    "--max-inflight", "200", "--tpm", str(tpm), "--tpm-burst", str(burst))
        with psycopg.connect(url) as c, c.cursor() as cur:
            for m, (tpm, _, out, _) in BUDGETS.items():
                # Twice what the budget admits in the run: the backlog never runs dry.
                per_task = sum(SIZES) / len(SIZES) / 4 + sum(out) / 2
                n = int(2 * tpm * seconds / 60 / per_task) + 50
                cur.executemany("INSERT INTO tasks (prompt, model) VALUES (%s, %s)",
                                [(p, m) for p in _prompts(rng, m, n)])
        t0 = time.time()
        ps = [C.start_work(url, b.url, d / f"llmlb{k}.log", "--max-runtime", f"{seconds}s",
                           "--drain-timeout", "30s") for k in range(procs)]
        log(f"[tpm] {procs} processes for {seconds:.0f}s")
        C.wait_procs(ps, timeout=seconds + 120)
        claim_end = t0 + seconds
        with psycopg.connect(url) as c:
            calls = c.execute(
                "SELECT model, count(*), coalesce(sum(reserved_tokens), 0),"
                " coalesce(sum(settled_tokens), 0),"
                " count(*) FILTER (WHERE settled_tokens > reserved_tokens),"
                " avg(abs(reserved_tokens - settled_tokens)::float8 / settled_tokens)"
                " FROM llmlb.calls WHERE outcome = 'ok' AND settled_tokens > 0"
                " GROUP BY model ORDER BY model").fetchall()
            outcomes = dict(c.execute("SELECT outcome, count(*) FROM llmlb.calls"
                                      " GROUP BY 1").fetchall())
            est = dict(c.execute("SELECT m.name, q.out_estimate FROM llmlb.quota q"
                                 " JOIN llmlb.models m ON m.id = q.model_id").fetchall())
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = {"seconds": seconds, "processes": procs, "seed": seed,
           "backend_outcomes": {}, "llmlb_call_outcomes": outcomes, "models": {}}
    for a in arrivals:
        res["backend_outcomes"][a["outcome"]] = res["backend_outcomes"].get(a["outcome"], 0) + 1
    by_model = {r[0]: r for r in calls}
    for m, (tpm, burst, out, lat) in BUDGETS.items():
        ev = [(a["ts"], a["prompt_tokens"] + a["completion_tokens"]) for a in arrivals
              if a["model"] == m and a["outcome"] == "ok"]
        first = min(t for t, _ in ev)
        span = max(claim_end - first, 1e-9)
        steady = sum(n for t, n in ev if t < claim_end)
        bound = tpm * span / 60 + burst
        r = by_model.get(m, (m, 0, 0, 0, 0, None))
        res["models"][m] = {
            "tpm": tpm, "tpm_burst": burst, "backend_output_tokens": list(out),
            "backend_median_s": lat, "calls_ok": len(ev), "span_s": round(span, 2),
            "tokens_at_backend": steady, "token_bound": round(bound),
            "utilisation_of_bound": round(steady / bound, 4),
            "utilisation_of_rate": round(steady / (tpm * span / 60), 4),
            "max_1s": _max_window(ev, 1), "bound_1s": round(tpm / 60 + burst),
            "max_5s": _max_window(ev, 5), "bound_5s": round(tpm * 5 / 60 + burst),
            "tpm_429_at_backend": sum(1 for a in arrivals
                                      if a["model"] == m and a["outcome"] == "tpm_429"),
            "estimator": {"calls": r[1], "reserved": int(r[2]), "settled": int(r[3]),
                          "error_pct": round(100 * (r[2] / r[3] - 1), 2) if r[3] else None,
                          "mean_abs_error_pct": round(100 * r[5], 2) if r[5] is not None
                          else None,
                          "under_reserved_calls": r[4],
                          "output_estimate_at_end": est.get(m)},
        }
    res["_binary"] = {"version": C.llmlb_version(), "git_head": C.git_head()}
    res["_ran_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return res


def scenario(cfg) -> dict:
    """run_all's optional scenario `tpm`."""
    return run(workdir=cfg.workdir, log=cfg.log)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--run", type=int, default=1)
    p.add_argument("--out", type=Path, help="results JSON to write")
    a = p.parse_args(argv)
    res = run(a.seconds, a.procs, a.seed + a.run)
    res["run"] = a.run
    text = json.dumps(res, indent=2, sort_keys=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
