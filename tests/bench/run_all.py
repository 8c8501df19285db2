"""llmlb benchmarks (issue 6, issue 3's table) against the simulated backend. Run by hand:

    .venv/bin/python -m tests.bench.run_all                  # everything, about 15 minutes
    .venv/bin/python -m tests.bench.run_all --only a,b       # some scenarios
    .venv/bin/python -m tests.bench.run_all --only c,d --n 7000 --time-scale 0.1

Scenarios (see docs/benchmarks.md), default set first:
  a       today's design, emulated (tests/bench/legacy_dag.py)
  b       llmlb at equal concurrency (4 processes x 50), limits not binding
  c       llmlb under binding per-model limits (4 processes x 100)
  d       the makespan bound of c's workload (uses c's results when run together)
  u       issue 3's pooled bound taken literally: unpinned tasks under c's limits, a backlog of
          --u-bound benchmark seconds (4 minutes by default)
  e       llmlb in short invocations, 4 independent slot loops with staggered boundaries
  e_sync  llmlb in synchronized DAG runs (all slots stop together, like @continuous runs)
  arr_a, arr_b   tasks arriving during the run: today's design / llmlb
  cp      control-plane throughput on the --instant backend, and the backend's own ceiling
  mem     memory with 2,000 calls in flight
  start   start-up time (exec to the first request at the backend)
Optional (only with --only): b_slow ((b) with the time scale x4), c_b5 ((c) with burst 5),
tpm (issue 17: throughput under binding token budgets; also `python -m tests.bench.tpm`).
Needs PostgreSQL on 127.0.0.1:5432 (role llmlb with CREATEDB) and the built
binary build/cli/llmlb. Results are merged into docs/bench/results.json (so scenarios can be
re-run one at a time) and rendered into docs/bench/results.md; figures go to docs/bench/*.png;
raw logs to --workdir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.bench"

from . import common as C  # noqa: E402
from . import issue3, report, scenarios, tpm  # noqa: E402

ORDER = ["a", "b", "b_slow", "c", "c_b5", "d", "u", "e", "e_sync", "arr_a", "arr_b", "cp", "mem", "start",
         "tpm"]
DEFAULT = ["a", "b", "c", "d", "u", "e", "e_sync", "arr_a", "arr_b", "cp", "mem", "start"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="llmlb benchmarks (see docs/benchmarks.md)")
    p.add_argument("--only", help=f"comma-separated scenarios of: {','.join(ORDER)}")
    p.add_argument("--n", type=int, default=scenarios.Config.n, help="tasks (default %(default)s)")
    p.add_argument("--time-scale", type=float, default=scenarios.Config.time_scale)
    p.add_argument("--seed", type=int, default=scenarios.Config.seed)
    p.add_argument("--c-bound", type=float, default=scenarios.Config.c_bound_s,
                   help="(c): makespan bound the limits are sized for, benchmark seconds")
    p.add_argument("--u-bound", type=float, default=scenarios.Config.u_bound_s,
                   help="(u): pooled bound the unpinned backlog is sized for, benchmark seconds")
    p.add_argument("--workdir", type=Path, default=scenarios.Config.workdir)
    p.add_argument("--out", type=Path, default=scenarios.Config.out)
    p.add_argument("--results", type=Path, help="results JSON (default OUT/results.json)")
    p.add_argument("--keep-db", action="store_true", help="keep the llmlb_bench_* databases")
    a = p.parse_args(argv)
    only = DEFAULT if not a.only else [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in ORDER]
    if bad:
        p.error(f"unknown scenario(s) {bad}; known: {ORDER}")
    only = [s for s in ORDER if s in only]
    if not C.LLMLB.exists():
        p.error(f"{C.LLMLB} not built (cmake --build build, or set LLMLB_BENCH_BINARY)")
    built_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(C.LLMLB.stat().st_mtime))
    orig = C.snapshot_binary(a.workdir)  # a private copy: a rebuild must not change it mid-run
    snap = C.LLMLB
    a.out.mkdir(parents=True, exist_ok=True)
    a.workdir.mkdir(parents=True, exist_ok=True)
    results_path = a.results or a.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.setdefault("runs", {})
    start = time.time()

    def log(msg: str) -> None:
        print(f"{time.time() - start:7.1f}s {msg}", flush=True)

    cfg = scenarios.Config(n=a.n, seed=a.seed, time_scale=a.time_scale, c_bound_s=a.c_bound,
                           u_bound_s=a.u_bound, workdir=a.workdir, out=a.out, keep_db=a.keep_db, log=log)
    cfg.results = results["runs"]
    results["machine"] = C.machine()
    binary = {"copied_from": str(orig), "built_at": built_at,
              "sha256": hashlib.sha256(snap.read_bytes()).hexdigest()[:16],
              "version": C.llmlb_version(), "git_head": C.git_head()}
    for name in only:
        fn = scenarios.SCENARIOS.get(name) or issue3.SCENARIOS.get(name) or tpm.scenario
        t = time.time()
        res = fn(cfg)
        if isinstance(res, dict):
            res["_config"] = {"n": cfg.n, "seed": cfg.seed, "time_scale": cfg.time_scale,
                              "c_bound_s": cfg.c_bound_s, "u_bound_s": cfg.u_bound_s}
            res["_ran_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
            res["_seconds"] = round(time.time() - t, 1)
            res["_binary"] = binary
        results["runs"][name] = res
        scenarios.dump(results, results_path)
        log(f"[{name}] done in {time.time() - t:.1f}s")
    (a.out / "results.md").write_text(report.render(results))
    print(report.render(results))
    log(f"all done in {time.time() - start:.1f}s; results in {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
