"""Issue 16's benchmark: today's design against llmlb on a backend with finite capacity, like for
like, at equal total concurrency, with faults, and llmlb under overload with and without its
protection. Every scenario runs ``--runs`` times; the runs go into docs/bench/results.json
(merged, as run_all does) as {"runs": [summary, ...], "commit", "date", "binary", "command"},
and tests/bench/render_docs.py renders docs/benchmarks.md and docs/bottlenecks.md from them.

    LLMLB_BENCH_BINARY=/tmp/bench16-build/cli/llmlb .venv/bin/python -m tests.bench.issue16 --runs 3
    .venv/bin/python -m tests.bench.issue16 --only over4_on,over4_off --runs 1 --n 700 --over-n 600

Scenarios (the main workload: --n tasks pinned round-robin to m0..m9, the backend's default
medians 1.5 … 20 s, sigma 0.6, clipped to [1 s, 120 s], times --time-scale):

  cap_a / cap_b    like for like. Backend: 20 service slots per model (today's per-model
                   concurrency: 20 workers, one item of each model per batch of 10; FIFO beyond)
                   and a provider quota of QUOTA_RPM per minute, burst QUOTA_BURST, per model.
                   cap_a: today's design unchanged (20 workers x /batch of 10, equal pre-split,
                   30-minute timeout and 60 s restart gap, both x time scale). cap_b: llmlb, 4
                   processes x 50, limits = the backend's: max_inflight 20, rpm QUOTA_RPM,
                   burst QUOTA_BURST.
  eq_a / eq_b      equal total concurrency (the backend takes any load): no slots, no quota;
                   today's design (200 in flight) against llmlb 4 x 50 (limits not binding).
  fault_a / fault_b  cap_* plus faults: 5xx 3%, drop 2%, 429 2% per call (per item of a batch;
                   a dropped item takes its whole batch's connection).
  over{4,8}_{on,off}  tests/e2e/test_overload.py scaled up: two models, 8 slots each, median
                   100 ms, sigma 0.5, min latency 1 ms, time scale 1; --over-n tasks (3000), 2
                   llmlb processes, limits FACTOR x capacity (max_inflight, burst and rpm),
                   request timeout 500 ms (about 1.5 x the p99 service time); overload
                   protection on (default) or off (--no-overload-protection).

llmlb's own time constants in cap/eq/fault are scaled like the backend's latencies (request
timeout 180 s, backoff 1 s … 60 s, all x time scale), as today's timeout and restart gap are.
The backend's 429 fault sends `Retry-After: 0` there (1 s x 0.075 rounds to 0; the provider
quota's own Retry-After is at least 1 s, real time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.bench"

from . import common as C  # noqa: E402
from .legacy_dag import LegacyDag  # noqa: E402
from .metrics import check_answers, makespan_bound  # noqa: E402
from .scenarios import _legacy_analysis, _llmlb_summaries, _load_note, _run_dir, dump  # noqa: E402

SCENARIOS = ["cap_a", "cap_b", "eq_a", "eq_b", "fault_a", "fault_b",
             "over4_on", "over4_off", "over8_on", "over8_off"]

# Like-for-like backend: today's per-model concurrency, and a provider quota that binds for the
# six fastest models at llmlb's pace (20 slots / mean latency: m0 about 145 calls/s, m5 37/s,
# m6 28/s) but sits far above today's design's average pace (about 9 calls/s per model). The
# burst lets one full lane (20 calls of a model at once: 20 workers' batches sent together)
# through, so today's design meets the quota only when its waves of batches bunch up. (With
# burst 10 a first try refused 23% of today's calls: 20 workers start together at every cycle.)
SLOTS = 20
QUOTA_RPM = 1800  # 30 calls/s per model, real time (the backend's bucket is not time-scaled)
QUOTA_BURST = 20
FAULTS = {"fault_5xx": 0.03, "fault_drop": 0.02, "fault_429": 0.02}

# Overload (tests/e2e/test_overload.py, scaled up).
OV_MODELS = ("m0", "m1")
OV_SLOTS, OV_MEDIAN, OV_SIGMA = 8, 0.1, 0.5
OV_TIMEOUT = "500ms"


@dataclass
class Cfg:
    n: int = 7000
    over_n: int = 3000
    seed: int = 42
    time_scale: float = 0.075
    procs: int = 4
    per_proc: int = 50
    workdir: Path = Path("/tmp/llmlb-bench16")
    keep_db: bool = False
    log: callable = print


def _backend_opts(kind: str) -> dict:
    if kind == "eq":
        return {}
    opts = {"slots": SLOTS, "quota_rpm": QUOTA_RPM, "quota_burst": QUOTA_BURST}
    if kind == "fault":
        opts.update(FAULTS, retry_after=0)
    return opts


def _limits(kind: str) -> dict[str, C.Limit]:
    if kind == "eq":
        return C.unbounded_limits()
    return {m: C.Limit(rpm=QUOTA_RPM, burst=QUOTA_BURST, max_inflight=SLOTS) for m in C.MODELS}


def _service_by_model(arrivals: list[dict]) -> dict[str, float]:
    """Mean sampled service latency per model (time-scaled), over the calls that were served."""
    lat: dict[str, list[float]] = {}
    for r in arrivals:
        if r.get("model") and r.get("outcome") not in ("quota429", "429", "tpm_429",
                                                       "queue_full", "404", "400"):
            lat.setdefault(r["model"], []).append(r.get("item_latency", r.get("latency", 0.0)))
    return {m: statistics.fmean(v) for m, v in lat.items() if v}


def _n_by_model(rows) -> dict[str, int]:
    out = {m: 0 for m in C.MODELS}
    for r in rows:
        if r[1]:
            out[r[1]] += 1
    return out


def _outcomes(arrivals: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in arrivals:
        out[r.get("outcome", "?")] = out.get(r.get("outcome", "?"), 0) + 1
    return out


def _finite_summary(kind: str, side: str, cfg: Cfg, t0: float, rows, arrivals) -> dict:
    """The columns of render_docs' finite tables, and the bound each side can reach: per model
    min(rpm/60, max_inflight / L) (today's design: one item of each model per batch of each of
    20 workers = 20 in flight per model; llmlb: its per-model limit, or 200 when not binding),
    and Little's law over the 200 calls in flight both sides have in total."""
    solved_ts = [r[6] for r in rows if r[6] is not None]
    makespan = (max(solved_ts) - t0) if solved_ts else None
    solved = sum(1 for r in rows if r[3] == "solved")
    failed = sum(1 for r in rows if r[3] == "failed")
    oc = _outcomes(arrivals)
    calls = len(arrivals)
    lat = _service_by_model(arrivals)
    n_by = _n_by_model(rows)
    if side == "a":
        lim = {m: C.Limit(rpm=QUOTA_RPM if kind != "eq" else 1e7,
                          burst=QUOTA_BURST if kind != "eq" else 100_000, max_inflight=SLOTS)
               for m in C.MODELS}
    else:
        lim = _limits(kind)
    bound = makespan_bound(n_by, lim, lat, total_concurrency=200)
    little = makespan_bound(n_by, C.unbounded_limits(), lat, total_concurrency=200)["bound_s"]
    lane = max(n_by[m] * lat[m] / SLOTS for m in C.MODELS if m in lat)
    slowest = max(lat, key=lat.get)
    done_slowest = max((r[6] for r in rows if r[1] == slowest and r[6] is not None), default=None)
    return {
        "tasks": len(rows), "time_scale": cfg.time_scale, "seed": cfg.seed,
        "makespan_s": round(makespan, 3) if makespan else None,
        "makespan_unscaled_s": round(makespan / cfg.time_scale, 1) if makespan else None,
        "solved": solved, "failed": failed, "unsolved": len(rows) - solved - failed,
        "calls": calls, "resent": round((calls - len(rows)) / calls, 4) if calls else None,
        "http_429": oc.get("quota429", 0) + oc.get("429", 0) + oc.get("tpm_429", 0),
        "quota_429": oc.get("quota429", 0), "fault_429": oc.get("429", 0),
        "outcomes": oc,
        "goodput_per_s": round(solved / makespan, 2) if makespan else None,
        "bound_s": bound["bound_s"], "ceiling": round(bound["bound_s"] / makespan, 4)
        if makespan else None,
        "bound": {k: v for k, v in bound.items() if k != "per_model"},
        "little_200_s": little, "lane_20_s": round(lane, 3), "slowest_model": slowest,
        "slowest_done_s": round(done_slowest - t0, 3) if done_slowest else None,
        "mean_latency_s": {m: round(v, 4) for m, v in sorted(lat.items())},
        "answers": check_answers(rows),
    }


def run_legacy(cfg: Cfg, kind: str) -> dict:
    name = f"{kind}_a"
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.backend(d, cfg.time_scale, cfg.seed, **_backend_opts(kind)) as b:
        C.insert_tasks(url, cfg.seed, 0, cfg.n)
        dag = LegacyDag(url, b.url, time_scale=cfg.time_scale)
        t0 = time.time()
        dag.run(log=lambda m: cfg.log("  " + m))
        rows = C.task_rows(url)
    loads.append(_load_note(cfg, "after"))
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = _finite_summary(kind, "a", cfg, t0, rows, arrivals)
    leg = _legacy_analysis(dag, arrivals, t0, cfg)
    for c in leg["cycles"]:
        c.pop("start", None), c.pop("end", None)
    batches = dag.summary()["batches"]
    lost = [b for b in batches if b["outcome"] != "ok"]
    res["lost_batches"] = len(lost)
    res["lost_batch_outcomes"] = {o: sum(1 for b in lost if b["outcome"] == o)
                                  for o in sorted({b["outcome"] for b in lost})}
    res["batches"] = len(batches)
    res["legacy"] = leg
    res["load"] = loads
    return res


def _llmlb_time_args(cfg: Cfg) -> list[str]:
    s = cfg.time_scale
    return ["--request-timeout", C.fmt_duration(180 * s), "--backoff-base", C.fmt_duration(1 * s),
            "--backoff-max", C.fmt_duration(60 * s)]


def run_llmlb(cfg: Cfg, kind: str, extra: tuple[str, ...] = (), name: str | None = None) -> dict:
    name = name or f"{kind}_b"
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.backend(d, cfg.time_scale, cfg.seed, **_backend_opts(kind)) as b:
        C.set_limits(url, _limits(kind))
        C.insert_tasks(url, cfg.seed, 0, cfg.n)
        t0 = time.time()
        procs = [C.start_work(url, b.url, d / f"llmlb{k}.log", "--max-inflight-total",
                              str(cfg.per_proc), "--until-empty", *_llmlb_time_args(cfg),
                              *extra)
                 for k in range(cfg.procs)]
        C.wait_procs(procs, timeout=1800)
        rows = C.task_rows(url)
        calls = C.call_rows(url)
    loads.append(_load_note(cfg, "after"))
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = _finite_summary(kind, "b", cfg, t0, rows, arrivals)
    res["lost_batches"] = None  # llmlb sends no batches
    res["llmlb_args"] = list(extra)
    res["overload_events"] = sum(1 for p in procs for ev in C.log_events(p.log_path)
                                 if ev.get("event") == "model_overloaded")
    res["backend_queued_calls"] = sum(1 for a in arrivals if (a.get("queue_wait") or 0) > 0.001)
    res["llmlb"] = _llmlb_summaries(procs)
    res["llmlb"]["processes"], res["llmlb"]["max_inflight_total_each"] = cfg.procs, cfg.per_proc
    res["call_outcomes"] = {}
    for c in calls:
        res["call_outcomes"][c[4]] = res["call_outcomes"].get(c[4], 0) + 1
    res["load"] = loads
    return res


# ---- overload ------------------------------------------------------------------------------


def run_overload(cfg: Cfg, factor: int, protection: bool) -> dict:
    name = f"over{factor}_{'on' if protection else 'off'}"
    d = _run_dir(cfg, name)
    n = cfg.over_n
    spec = {"median": OV_MEDIAN, "sigma": OV_SIGMA, "slots": OV_SLOTS}
    cap_model = OV_SLOTS / (OV_MEDIAN * math.exp(OV_SIGMA ** 2 / 2))
    lim = C.Limit(rpm=round(cap_model * 60 * factor), burst=OV_SLOTS * factor,
                  max_inflight=OV_SLOTS * factor)
    loads = [_load_note(cfg, "before")]
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.backend(d, 1, cfg.seed, min_latency=0.001,
                      models={"models": {m: dict(spec) for m in OV_MODELS}}) as b:
        C.set_limits(url, {m: lim for m in OV_MODELS})
        with __import__("psycopg").connect(url) as c:
            with c.cursor() as cur:
                with cur.copy("COPY public.tasks (prompt) FROM STDIN") as cp:
                    for i in range(n):
                        cp.write_row((f"overload task {i} (seed {cfg.seed})",))
        extra = [] if protection else ["--no-overload-protection"]
        t0 = time.time()
        procs = [C.start_work(url, b.url, d / f"llmlb{k}.log", "--until-empty",
                              "--request-timeout", OV_TIMEOUT, "--backoff-base", "100ms",
                              "--backoff-max", "1s", *extra) for k in range(2)]
        C.wait_procs(procs, timeout=900)
        rows = C.task_rows(url)
        calls = C.call_rows(url)
        with __import__("psycopg").connect(url) as c:
            # When each failed task ended: its last call's finish (it has no solved_at).
            failed_end = [r[0] for r in c.execute(
                "SELECT extract(epoch FROM max(c.finished_at))::float8 FROM llmlb.calls c"
                " JOIN public.tasks t ON t.id = c.task_id WHERE t.status = 'failed'"
                " GROUP BY c.task_id").fetchall()]
    loads.append(_load_note(cfg, "after"))
    arrivals = [a for a in C.read_arrivals(d / "arrivals.jsonl") if a.get("model") in OV_MODELS]
    service = [a["service"] for a in arrivals if a.get("service") is not None]
    capacity = len(OV_MODELS) * OV_SLOTS / statistics.fmean(service) if service else None
    solved_ts = sorted(r[6] for r in rows if r[3] == "solved" and r[6] is not None)
    solved, failed = len(solved_ts), sum(1 for r in rows if r[3] == "failed")
    res = {"tasks": n, "factor": factor, "protection": protection, "seed": cfg.seed,
           "solved": solved, "failed": failed, "calls": len(arrivals),
           "resent": round((len(arrivals) - n) / len(arrivals), 4) if arrivals else None,
           "http_429": sum(1 for a in arrivals if a.get("outcome") in ("quota429", "429")),
           "outcomes": _outcomes(arrivals),
           "capacity_per_s": round(capacity, 2) if capacity else None,
           "service_p99_s": round(sorted(service)[int(0.99 * (len(service) - 1))], 4)
           if service else None,
           "limits": {"rpm": lim.rpm, "burst": lim.burst, "max_inflight": lim.max_inflight},
           "request_timeout": OV_TIMEOUT, "load": loads}
    # The run ends with its last call (a task that failed has no solved_at).
    ends = [c[2] for c in calls if c[2] is not None] + solved_ts
    if ends:
        res["makespan_s"] = round(max(ends) - t0, 3)
    if solved_ts:
        # Goodput while the backlog lasts: solved tasks from the 10th to the 90th percentile of
        # the times the tasks ended (solved_at; for a failed task its last call's finish), per
        # second of that span: with no failed task exactly tests/e2e/test_overload.py's figure.
        # And over the whole run, from the start to the last call.
        settled = sorted(solved_ts + failed_end)
        t10 = settled[int(0.1 * (len(settled) - 1))]
        t90 = settled[int(0.9 * (len(settled) - 1))]
        inside = sum(1 for t in solved_ts if t10 <= t <= t90)
        res["goodput_per_s"] = round(inside / max(t90 - t10, 1e-9), 2)
        res["goodput_whole_per_s"] = round(solved / res["makespan_s"], 2)
        if capacity:
            res["goodput_of_capacity"] = round(res["goodput_per_s"] / capacity, 4)
            res["goodput_whole_of_capacity"] = round(res["goodput_whole_per_s"] / capacity, 4)
    co: dict[str, int] = {}
    for c in calls:
        co[c[4]] = co.get(c[4], 0) + 1
    res["call_outcomes"] = co
    res["llmlb"] = _llmlb_summaries(procs)
    overloads = 0
    for p in procs:
        overloads += sum(1 for ev in C.log_events(p.log_path)
                         if ev.get("event") in ("model_overloaded",))
    res["overload_events"] = overloads
    return res


RUNNERS = {
    "cap_a": lambda cfg: run_legacy(cfg, "cap"), "cap_b": lambda cfg: run_llmlb(cfg, "cap"),
    # Controls (not in the default set): llmlb without overload protection, whose latency
    # detector fired on backends that never queued in the first runs.
    "cap_b_noprot": lambda cfg: run_llmlb(cfg, "cap", ("--no-overload-protection",),
                                          "cap_b_noprot"),
    "eq_b_noprot": lambda cfg: run_llmlb(cfg, "eq", ("--no-overload-protection",),
                                         "eq_b_noprot"),
    "fault_b_noprot": lambda cfg: run_llmlb(cfg, "fault", ("--no-overload-protection",),
                                            "fault_b_noprot"),
    "eq_a": lambda cfg: run_legacy(cfg, "eq"), "eq_b": lambda cfg: run_llmlb(cfg, "eq"),
    "fault_a": lambda cfg: run_legacy(cfg, "fault"),
    "fault_b": lambda cfg: run_llmlb(cfg, "fault"),
    "over4_on": lambda cfg: run_overload(cfg, 4, True),
    "over4_off": lambda cfg: run_overload(cfg, 4, False),
    "over8_on": lambda cfg: run_overload(cfg, 8, True),
    "over8_off": lambda cfg: run_overload(cfg, 8, False),
}


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(C.REPO), *args], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="issue 16's benchmark (see the module docstring)")
    p.add_argument("--only", help=f"comma-separated of: {','.join(RUNNERS)} (default: all "
                   "but the *_noprot controls)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--n", type=int, default=Cfg.n, help="tasks of cap/eq/fault")
    p.add_argument("--over-n", type=int, default=Cfg.over_n, help="tasks of over*")
    p.add_argument("--time-scale", type=float, default=Cfg.time_scale)
    p.add_argument("--seed", type=int, default=Cfg.seed, help="run k uses seed + k")
    p.add_argument("--workdir", type=Path, default=Cfg.workdir)
    p.add_argument("--results", type=Path, default=C.REPO / "docs" / "bench" / "results.json")
    p.add_argument("--keep-db", action="store_true")
    a = p.parse_args(argv)
    only = SCENARIOS if not a.only else [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in RUNNERS]
    if bad:
        p.error(f"unknown scenario(s) {bad}")
    if not C.LLMLB.exists():
        p.error(f"{C.LLMLB} not built (set LLMLB_BENCH_BINARY)")
    orig = C.snapshot_binary(a.workdir)
    snap = C.LLMLB
    commit = _git("rev-parse", "HEAD")
    clean = _git("status", "--porcelain") == ""
    binary = {"path": str(orig), "sha256": hashlib.sha256(snap.read_bytes()).hexdigest()[:16],
              "built_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(orig.stat().st_mtime)),
              "version": C.llmlb_version(), "tree_clean_at_start": clean}
    command = ("LLMLB_BENCH_BINARY=" + str(orig) + " .venv/bin/python -m tests.bench.issue16 "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    results = json.loads(a.results.read_text()) if a.results.exists() else {}
    results.setdefault("runs", {})
    results["machine"] = C.machine()
    start = time.time()

    def log(msg: str) -> None:
        print(f"{time.time() - start:7.1f}s {msg}", flush=True)

    fresh = {name: {"runs": [], "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"),
                    "binary": binary, "command": command,
                    "config": {"n": a.n, "over_n": a.over_n, "time_scale": a.time_scale,
                               "seeds": [a.seed + k for k in range(a.runs)],
                               "slots": SLOTS, "quota_rpm": QUOTA_RPM, "quota_burst": QUOTA_BURST,
                               "faults": FAULTS}}
             for name in only}
    # Interleaved: run k of every scenario, then run k + 1, so a disturbance on the machine
    # spreads over the scenarios instead of falling on one.
    for k in range(a.runs):
        cfg = Cfg(n=a.n, over_n=a.over_n, seed=a.seed + k, time_scale=a.time_scale,
                  workdir=a.workdir, keep_db=a.keep_db, log=log)
        for name in only:
            t = time.time()
            log(f"[{name}] run {k + 1}/{a.runs}")
            res = RUNNERS[name](replace(cfg, workdir=a.workdir / f"run{k + 1}"))
            res["_ran_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
            res["_seconds"] = round(time.time() - t, 1)
            fresh[name]["runs"].append(res)
            results["runs"][name] = fresh[name]
            dump(results, a.results)
            keys = ("makespan_s", "solved", "failed", "calls", "resent", "http_429",
                    "lost_batches", "goodput_per_s", "capacity_per_s", "ceiling")
            log(f"[{name}] done in {res['_seconds']}s: "
                + ", ".join(f"{k2}={res.get(k2)}" for k2 in keys if k2 in res))
    log(f"all done in {time.time() - start:.1f}s; results in {a.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
