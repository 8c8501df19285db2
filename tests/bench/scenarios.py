"""The benchmark runs of issue 6: (a) today's design, (b) llmlb at equal concurrency, (c) llmlb
under binding per-model limits, (d) the makespan bound, (e) llmlb run as the DAG runs it, and the
mid-run arrivals variant. Each function takes a Config and returns a JSON-ready result dict; the
figures go to ``cfg.out`` (docs/bench), the raw material (arrival logs, llmlb logs) to
``cfg.workdir``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import common as C
from .legacy_dag import RESTART_GAP_S, TIMEOUT_S, LegacyDag
from .metrics import (backlog_phase, check_answers, expected_latency, makespan_bound,
                      model_capacity, model_table, pooled_bound, replay_bound, wait_stats)
from .plots import plot_boundaries, plot_run


@dataclass
class Config:
    n: int = 14_000  # tasks of the main workload (pinned round-robin to m0..m9)
    seed: int = 42
    time_scale: float = 0.075  # backend latencies, timeouts and gaps are multiplied by this
    procs: int = 4  # llmlb processes
    per_proc: int = 50  # --max-inflight-total of each in (b): 4 x 50 = 200 = 20 workers x 10
    per_proc_limited: int = 100  # in (c)/(e): large enough that the per-model limits bind
    timeout_s: float = TIMEOUT_S  # today's worker timeout, unscaled
    restart_gap_s: float = RESTART_GAP_S  # today's DAG restart gap, unscaled
    c_bound_s: float = 60.0  # (c): the limits are chosen so that the bound is this (benchmark s)
    c_burst: int = 10  # (c), (e): every model's burst; c_b5 uses 5
    u_bound_s: float = 240.0  # (u): unpinned tasks, as many as the limits of (c) take this long
    e_max_runtime_s: float = 16.0  # (e): --max-runtime of each invocation (benchmark s)
    e_drain_s: float = 30.0  # (e): --drain-timeout, unscaled (the DAG's default 30 s)
    e_dag_gap_s: float = 10.0  # (e_sync): gap between DAG runs, unscaled
    arr_backlog: int = 2_000  # arrivals variant: tasks present at the start
    arr_rate: float = 30.0  # ... then this many new tasks per benchmark second
    arr_duration_s: float = 30.0  # ... for this long (benchmark s)
    workdir: Path = Path("/tmp/llmlb-bench")
    out: Path = C.REPO / "docs" / "bench"
    keep_db: bool = False
    log: callable = print
    results: dict = field(default_factory=dict)  # earlier scenarios' results (d uses c's)

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


def _label(name: str) -> str:
    return {"a_legacy": "(a)", "b_llmlb_equal": "(b)", "c_llmlb_limited": "(c)",
            "e_llmlb_cycling": "(e)", "e_sync_llmlb_dag_runs": "(e, DAG runs)",
            "b_slow_llmlb_equal": "(b, slower)", "c_b5_llmlb_limited": "(c, burst 5)", "arr_a_legacy": "(arrivals, a)", "arr_b_llmlb": "(arrivals, llmlb)"}.get(name, name)


def _inflight_bound(limits: dict, cfg: Config) -> set:
    """Models whose max_inflight binds before their rpm (with the analytic mean latency)."""
    return {m for m, lim in limits.items()
            if model_capacity(lim, expected_latency(m, cfg.time_scale))[1] == "max_inflight"}


def _run_dir(cfg: Config, name: str) -> Path:
    d = cfg.workdir / name
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*"):
        if f.is_file():
            f.unlink()
    return d


def c_limits(cfg: Config, burst: int | None = None) -> dict[str, C.Limit]:
    """Per-model limits for (c): each model's share n_i must take f_i x c_bound_s at its
    capacity. m0..m7 are bound by rpm (max_inflight has headroom), m8 and m9 (the slowest) by
    max_inflight (rpm has headroom). m3 has f = 1, so it sets the bound; the others are a little
    looser (f < 1), so the bound is a single model's n / capacity. Burst ``cfg.c_burst`` (10)
    for every model, unless ``burst`` is given."""
    b = burst or cfg.c_burst
    n_i = cfg.n / len(C.MODELS)
    f = dict(zip(C.MODELS, (0.80, 0.85, 0.90, 1.00, 0.92, 0.88, 0.95, 0.84, 0.90, 0.93)))
    out = {}
    for m in C.MODELS:
        cap = n_i / (f[m] * cfg.c_bound_s)
        lat = expected_latency(m, cfg.time_scale)
        if m in ("m8", "m9"):
            out[m] = C.Limit(rpm=round(cap * 60 * 2), burst=b,
                             max_inflight=max(1, round(cap * lat)))
        else:
            out[m] = C.Limit(rpm=round(cap * 60), burst=b,
                             max_inflight=max(5, math.ceil(3 * cap * lat + 5)))
    return out


def _windows_total(models: dict) -> dict:
    tot = {}
    for row in models.values():
        for key, w in row.get("windows", {}).items():
            t = tot.setdefault(key, {"over": 0, "windows": 0, "max_excess": 0.0})
            t["over"] += w["over"]
            t["windows"] += w["windows"]
            t["max_excess"] = round(max(t["max_excess"], w["max"] - w["limit"]), 3)
    return tot


def summarise(name: str, cfg: Config, t0: float, rows: list, arrivals: list[dict],
              window_limits: dict | None, *, wait_ids: set | None = None) -> dict:
    solved = [r[6] for r in rows if r[6] is not None]
    t_end = max(solved) if solved else time.time()
    makespan = t_end - t0
    res = {
        "name": name,
        "time_scale": cfg.time_scale,
        "tasks": len(rows),
        "makespan_s": round(makespan, 3),
        "makespan_unscaled_s": round(makespan / cfg.time_scale, 1),
        "throughput_per_s": round(len(solved) / makespan, 2) if makespan > 0 else None,
        "throughput_unscaled_per_min": round(len(solved) / (makespan / cfg.time_scale) * 60, 1),
        "answers": check_answers(rows),
        "wait": wait_stats(rows, wait_ids, cfg.time_scale),
        "backend_calls": len(arrivals),
        "models": model_table(arrivals, window_limits, cfg.time_scale),
    }
    res["windows_over"] = _windows_total(res["models"])
    for m in C.MODELS:
        done = [r[6] for r in rows if (r[1] or r[7]) == m and r[6] is not None]
        if done:
            res["models"][m]["done_s"] = round(max(done) - t0, 3)
    return res


def _mean_latency_by_model(arrivals: list[dict], cfg: Config) -> dict[str, float]:
    lat: dict[str, list[float]] = {}
    for r in arrivals:
        if r.get("model"):
            lat.setdefault(r["model"], []).append(r.get("item_latency", r.get("latency", 0.0)))
    return {m: float(np.mean(lat[m])) if lat.get(m) else expected_latency(m, cfg.time_scale)
            for m in C.MODELS}


def _n_by_model(rows) -> dict[str, int]:
    """Tasks per model: a pinned task's model, else the model that answered it (if any)."""
    out = {m: 0 for m in C.MODELS}
    for r in rows:
        m = r[1] or r[7]
        if m:
            out[m] += 1
    return out


def _load_note(cfg: Config, when: str) -> dict:
    la = C.load_average()
    cfg.log(f"  load average {when}: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return {"when": when, "load1": round(la[0], 2), "load5": round(la[1], 2)}


def _llmlb_summaries(procs: list[C.Proc]) -> dict:
    """Totals of the llmlb processes' summary lines (one per invocation)."""
    tot = {"claimed": 0, "solved": 0, "released": 0, "lost_leases": 0, "failed": 0,
           "retried": 0, "unwritten": 0, "exit_codes": sorted({p.rc for p in procs}, key=str)}
    for path in sorted({p.log_path for p in procs}):
        for ev in C.log_events(path):
            if ev.get("event") == "summary":
                for k in ("claimed", "solved", "released", "lost_leases", "failed", "retried",
                          "unwritten"):
                    tot[k] += int(ev.get(k, 0))
    return tot


# ---- (a) today's design -----------------------------------------------------------------


def run_legacy(cfg: Config, name: str = "a_legacy", arrivals_plan=None) -> dict:
    cfg.log(f"[{name}] today's design: 20 workers x batches of 10 on /batch, timeout "
            f"{cfg.timeout_s:g}s x {cfg.time_scale}, restart gap {cfg.restart_gap_s:g}s x "
            f"{cfg.time_scale}")
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    with C.fresh_db(name, cfg.keep_db) as url, C.backend(d, cfg.time_scale, cfg.seed) as b:
        n0 = arrivals_plan["backlog"] if arrivals_plan else cfg.n
        C.insert_tasks(url, cfg.seed, 0, n0)
        meter = C.CpuMeter(url)
        meter.add("backend", b.pid)
        dag = LegacyDag(url, b.url, time_scale=cfg.time_scale, timeout_s=cfg.timeout_s,
                        restart_gap_s=cfg.restart_gap_s)
        t0 = time.time()
        feeder = _Feeder(url, cfg, arrivals_plan, t0) if arrivals_plan else None
        dag.run(more_expected=(feeder.more if feeder else (lambda: False)),
                log=lambda m: cfg.log("  " + m))
        if feeder:
            feeder.join()
        cpu = meter.stop()
        rows = C.task_rows(url)
    loads.append(_load_note(cfg, "after"))
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = summarise(name, cfg, t0, rows, arrivals, c_limits(cfg),
                    wait_ids=feeder.ids if feeder else None)
    res["windows_note"] = "windows are counted against the limits of (c), for comparison"
    res["cpu_s"], res["load"] = cpu, loads
    res["legacy"] = _legacy_analysis(dag, arrivals, t0, cfg)
    lat = _mean_latency_by_model(arrivals, cfg)
    res["bound"] = makespan_bound(_n_by_model(rows), C.unbounded_limits(), lat,
                                  total_concurrency=200)
    sol = [r[6] for r in rows if r[6] is not None]
    spans = [(c["end"], c["end"] + dag.gap, "grey") for c in res["legacy"]["cycles"][:-1]]
    plot_run(cfg.out / f"{name}.png",
             f"{_label(name)} today's design: {len(rows)} tasks, 20 workers x /batch of 10, "
             f"time scale {cfg.time_scale} (grey: restart gaps; red: worker timeouts)",
             arrivals, t0, max(sol) if sol else time.time(), None, solved_ts=sol,
             ref_limits=c_limits(cfg),
             marks=[(c["start"] + dag.timeout, "tab:red") for c in res["legacy"]["cycles"]
                    if c["timed_out_workers"]], spans=spans, concurrency=200)
    res["figure"] = f"docs/bench/{name}.png"
    return res


def _legacy_analysis(dag: LegacyDag, arrivals: list[dict], t0: float, cfg: Config) -> dict:
    """Quantifies today's bottlenecks from the run's own records."""
    s = dag.summary()
    batches = s["batches"]
    # Waiting for the slowest call of a batch: the slot-time a batch occupies is n x its
    # latency (the max of its items'); the useful part is the sum of its items' own latencies.
    by_req: dict[int, list[dict]] = {}
    for r in arrivals:
        if r.get("endpoint") == "batch":
            by_req.setdefault(r["req"], []).append(r)
    occupied = sum(len(v) * v[0]["latency"] for v in by_req.values())
    useful = sum(r["item_latency"] for v in by_req.values() for r in v)
    cycles = []
    idle_split = 0.0
    for c in s["cycles"]:
        ends = sorted(c["worker_ends"])
        length = (c["end"] - c["start"]) if c["end"] else 0
        # Equal pre-split: slot-seconds a worker sits idle after its part is done while the
        # cycle waits for the slowest worker (10 slots per worker).
        idle = sum((c["end"] - e) * dag.batch_size for e in ends) if ends else 0.0
        idle_split += idle
        cycles.append({"number": c["number"], "start": c["start"], "end": c["end"],
                       "start_rel_s": round(c["start"] - t0, 3),
                       "length_s": round(length, 3), "fetched": c["fetched"],
                       "solved": c["solved"], "timed_out_workers": c["timed_out_workers"],
                       "lost_in_flight": c["lost_in_flight"], "left_unsent": c["left_unsent"],
                       "first_worker_done_s": round(ends[0] - c["start"], 3) if ends else None,
                       "idle_slot_s_after_split": round(idle, 2)})
    total_len = sum(c["length_s"] for c in cycles)
    gaps = (len(cycles) - 1) * dag.gap
    lost_batches = [b for b in batches if b["outcome"] == "timeout_lost"]
    lost_items = sum(len(b["ids"]) for b in lost_batches)
    lost_slot_s = sum((b["done"] - b["sent"]) * len(b["ids"]) for b in lost_batches)
    slot_s_total = 200 * (total_len + gaps)
    return {
        "cycles": cycles,
        "timeout_s": dag.timeout, "restart_gap_s": dag.gap,
        "batch_requests": len(by_req),
        "batch_efficiency": round(useful / occupied, 4) if occupied else None,
        "slot_s_total": round(slot_s_total, 1),
        "slot_s_waiting_for_slowest": round(occupied - useful, 1),
        "slot_s_idle_after_split": round(idle_split, 1),
        "slot_s_restart_gaps": round(200 * gaps, 1),
        "restart_gap_total_s": round(gaps, 3),
        "lost_at_timeout_items": lost_items,
        "lost_at_timeout_slot_s": round(lost_slot_s, 1),
        "backend_items_sent": sum(len(v) for v in by_req.values()),
    }


# ---- llmlb runs -------------------------------------------------------------------------


def run_llmlb(cfg: Config, name: str, title: str, limits: dict, per_proc: int,
              arrivals_plan=None, window_limits=None, pinned: bool = True) -> dict:
    """Runs cfg.procs `llmlb work` processes on cfg.n tasks (pinned round-robin, or unpinned)
    under ``limits`` and summarises the run. Pinned work is measured against max_i n_i /
    capacity_i and the replay of each model's latencies; unpinned work against issue 3's pooled
    N / sum capacity_i (metrics.pooled_bound)."""
    cfg.log(f"[{name}] {title}")
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    with C.fresh_db(name, cfg.keep_db) as url, C.backend(d, cfg.time_scale, cfg.seed) as b:
        C.set_limits(url, limits)
        n0 = arrivals_plan["backlog"] if arrivals_plan else cfg.n
        C.insert_tasks(url, cfg.seed, 0, n0, pinned=pinned)
        meter = C.CpuMeter(url)
        meter.add("backend", b.pid)
        t0 = time.time()
        feeder = _Feeder(url, cfg, arrivals_plan, t0) if arrivals_plan else None
        extra = [] if feeder else ["--until-empty"]
        procs = [C.start_work(url, b.url, d / f"llmlb{k}.log", "--max-inflight-total",
                              str(per_proc), *extra) for k in range(cfg.procs)]
        for p in procs:
            meter.add("llmlb", p.popen.pid)
        if feeder:
            feeder.join()
            _wait_drained(url, procs, timeout=600)
        else:
            C.wait_procs(procs, timeout=1800)
        cpu = meter.stop()
        rows = C.task_rows(url)
        calls = C.call_rows(url)
        dbs = C.db_stats(url)
    loads.append(_load_note(cfg, "after"))
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = summarise(name, cfg, t0, rows, arrivals, window_limits or limits,
                    wait_ids=feeder.ids if feeder else None)
    res["cpu_s"], res["load"], res["db"] = cpu, loads, dbs
    res["llmlb"] = _llmlb_summaries(procs)
    res["llmlb"]["processes"] = cfg.procs
    res["llmlb"]["max_inflight_total_each"] = per_proc
    res["limits"] = {m: asdict(v) for m, v in limits.items()}
    res["calls_log_windows_over"] = _calls_windows(calls, limits, cfg)
    res["delivery_delay"] = _delivery_delay(calls, arrivals)
    _call_times(calls, res)
    lat = _mean_latency_by_model(arrivals, cfg)
    sol = [r[6] for r in rows if r[6] is not None]
    t_end = max(sol) if sol else time.time()
    if pinned:
        res["bound"] = makespan_bound(_n_by_model(rows), limits, lat,
                                      total_concurrency=cfg.procs * per_proc)
        res["replay_bound"] = replay_bound(arrivals, limits)
    else:
        res["bound"] = pooled_bound(len(rows), limits, lat, cfg.procs * per_proc)
        res["bound"]["analytic"] = pooled_bound(
            len(rows), limits, {m: expected_latency(m, cfg.time_scale) for m in limits},
            cfg.procs * per_proc)["bound_s"]
        res["utilisation"] = round(res["bound"]["bound_s"] / res["makespan_s"], 4)
        ph = backlog_phase(arrivals, t0, t_end)
        if ph.get("calls_per_s"):
            ph["rate_utilisation"] = round(ph["calls_per_s"] / res["bound"]["capacity_per_s"], 4)
        res["backlog_phase"] = ph
    plot_run(cfg.out / f"{name}.png", f"{_label(name)} {title}", arrivals, t0, t_end, limits,
             solved_ts=sol, concurrency=cfg.procs * per_proc,
             inflight_models=_inflight_bound(limits, cfg))
    res["figure"] = f"docs/bench/{name}.png"
    res["_t0"] = t0
    return res


def _call_times(calls: list[tuple], res: dict) -> None:
    """Per model, from llmlb's call log: the mean HTTP time llmlb measured and the mean time
    from the send to the write-back (finished_at, when the lease is released), next to the
    backend's own sampled latency (mean_latency_s): what max_inflight really pays per call."""
    by: dict[str, list[tuple]] = {}
    for c in calls:
        by.setdefault(c[0], []).append(c)
    for m, cs in by.items():
        if m in res["models"]:
            res["models"][m]["llmlb_http_s"] = round(
                float(np.mean([c[3] for c in cs if c[3] is not None])) / 1000, 4)
            res["models"][m]["send_to_release_s"] = round(
                float(np.mean([c[2] - c[1] for c in cs])), 4)


def _delivery_delay(calls: list[tuple], arrivals: list[dict]) -> dict:
    """How long after llmlb's sent_at (database clock: the claim's time plus llmlb's own claim-
    to-send offset) requests reached the backend: per model, the k-th call by sent_at is paired
    with the k-th arrival (the order is nearly the same), over calls that were answered."""
    from .metrics import by_model

    arr = by_model(arrivals)
    d = []
    for m, ts in arr.items():
        sent = np.sort(np.array([c[1] for c in calls if c[0] == m]))
        k = min(sent.size, ts.size)
        d.extend((ts[:k] - sent[:k]).tolist())
    if not d:
        return {}
    d = np.array(d) * 1000
    return {"p50_ms": round(float(np.percentile(d, 50)), 1),
            "p99_ms": round(float(np.percentile(d, 99)), 1),
            "max_ms": round(float(d.max()), 1), "over_150ms": int((d > 150).sum()),
            "calls": int(d.size)}


def _calls_windows(calls: list[tuple], limits: dict, cfg: Config) -> dict:
    """Windows over the limit counted on llmlb's own call log (sent_at, database clock): what
    the token bucket granted, without the client-to-backend delivery jitter."""
    from .metrics import windows_over

    out = {}
    for w in (1, 5, 60):
        over = 0
        for m, lim in limits.items():
            ts = np.sort(np.array([c[1] for c in calls if c[0] == m]))
            over += windows_over(ts, w * cfg.time_scale, lim.rpm, lim.burst)["over"]
        out[f"{w}s_scaled"] = over
    return out


def _wait_drained(url: str, procs: list[C.Proc], timeout: float) -> None:
    """Arrivals variant: once the feeder is done, wait until every task is solved, then stop
    the workers (SIGTERM by PID; they drain nothing since nothing is in flight)."""
    deadline = time.time() + timeout
    while time.time() < deadline and C.unsolved_count(url) > 0:
        time.sleep(0.1)
    for p in procs:
        C.stop_proc(p)


class _Feeder(threading.Thread):
    """Inserts the arrivals variant's new tasks: ``rate`` per second for ``duration`` seconds,
    in small groups every 0.1 s, continuing the task numbering after the backlog."""

    def __init__(self, url: str, cfg: Config, plan: dict, t0: float):
        super().__init__(daemon=True)
        self.url, self.cfg, self.plan, self.t0 = url, cfg, plan, t0
        self.ids: set[int] = set()
        self.done = False
        self.start()

    def more(self) -> bool:
        return not self.done

    def run(self) -> None:
        import psycopg

        first, total = self.plan["backlog"], int(self.plan["rate"] * self.plan["duration"])
        sent = 0
        with psycopg.connect(self.url, autocommit=True) as c:
            while sent < total:
                due = min(total, int((time.time() - self.t0) * self.plan["rate"]) + 1)
                if due > sent:
                    nums = range(first + sent, first + due)
                    got = c.execute(
                        "INSERT INTO public.tasks (prompt, model)"
                        " SELECT unnest(%s::text[]), unnest(%s::text[]) RETURNING id",
                        ([C.prompt_for(self.cfg.seed, i) for i in nums],
                         [C.model_for(i) for i in nums])).fetchall()
                    self.ids.update(r[0] for r in got)
                    sent = due
                time.sleep(0.1)
        self.done = True


# ---- (d) the bound ----------------------------------------------------------------------


def bound_d(cfg: Config) -> dict:
    """(d): the lower bound on the makespan of (c)'s workload under (c)'s limits, from the
    latencies the backend really applied in the (c) run (analytic means when (c) did not run)."""
    limits = c_limits(cfg)
    n_by = {m: cfg.n // len(C.MODELS) + (1 if i < cfg.n % len(C.MODELS) else 0)
            for i, m in enumerate(C.MODELS)}
    c = cfg.results.get("c")
    if c:
        lat = {m: c["models"][m]["mean_latency_s"] for m in C.MODELS}
        src = "mean latency the backend applied in run (c)"
    else:
        lat = {m: expected_latency(m, cfg.time_scale) for m in C.MODELS}
        src = "analytic mean of the clipped lognormal"
    out = makespan_bound(n_by, limits, lat)
    out["latency_source"] = src
    out["analytic_mean_latency_s"] = {m: round(expected_latency(m, cfg.time_scale), 4)
                                      for m in C.MODELS}
    out["formula"] = ("max_i n_i / min(rpm_i/60, max_inflight_i / L_i): tasks are pinned, so "
                      "each model must do its own share at its own capacity")
    if c:
        out["c_makespan_s"] = c["makespan_s"]
        out["c_utilisation"] = round(out["bound_s"] / c["makespan_s"], 4)
        rb = c.get("replay_bound")
        if rb and rb.get("bound_s"):
            out["replay"] = rb
            out["c_utilisation_replay"] = round(rb["bound_s"] / c["makespan_s"], 4)
    return out


# ---- (u) issue 3's pooled bound: unpinned work ---------------------------------------------


def run_pooled(cfg: Config) -> dict:
    """(u): issue 3's quota-utilisation setup taken literally. Its bound, N / sum_i min(rpm_i /
    60, max_inflight_i / L_i), pools every model's capacity, which only unpinned work can use:
    so the tasks are unpinned (any model may answer), under (c)'s limits, and there are as many
    as those limits take cfg.u_bound_s to serve (with the analytic mean latencies). The run is
    long so that the drain at the end (the last calls, one model's slowest, finishing while the
    backlog is empty) weighs as it would on a backlog of an hour rather than of a minute; the
    drain is reported on its own, next to the rate while the backlog lasted."""
    limits = c_limits(cfg)
    caps = pooled_bound(1, limits, {m: expected_latency(m, cfg.time_scale) for m in limits})
    n = round(cfg.u_bound_s * caps["capacity_per_s"])
    return run_llmlb(
        replace(cfg, n=n), "u_llmlb_unpinned",
        f"llmlb, {cfg.procs} processes x {cfg.per_proc_limited} in flight, limits of (c), "
        f"{n} unpinned tasks", limits, cfg.per_proc_limited, pinned=False)


# ---- (e) llmlb in short invocations, as the DAG runs it -----------------------------------


def run_cycling(cfg: Config, name: str, sync: bool) -> dict:
    limits = c_limits(cfg)
    R = cfg.e_max_runtime_s
    D = cfg.scaled(cfg.e_drain_s)
    gap = cfg.scaled(cfg.e_dag_gap_s)
    how = (f"DAG runs: {cfg.procs} slots start together, next run {gap:.2f}s after all exited"
           if sync else f"{cfg.procs} independent slot loops, boundaries staggered by "
           f"{R / cfg.procs:g}s")
    title = (f"llmlb in invocations of --max-runtime {R:g}s --drain-timeout {D:.2f}s; {how}; "
             f"limits of (c)")
    cfg.log(f"[{name}] {title}")
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    invocations: list[dict] = []
    lock = threading.Lock()
    with C.fresh_db(name, cfg.keep_db) as url, C.backend(d, cfg.time_scale, cfg.seed) as b:
        C.set_limits(url, limits)
        C.insert_tasks(url, cfg.seed, 0, cfg.n)
        meter = C.CpuMeter(url)
        meter.add("backend", b.pid)
        t0 = time.time()
        all_procs: list[C.Proc] = []

        def invoke(slot: int, runtime: float) -> C.Proc:
            p = C.start_work(url, b.url, d / f"slot{slot}.log", "--max-inflight-total",
                             str(cfg.per_proc_limited), "--max-runtime", C.fmt_duration(runtime),
                             "--drain-timeout", C.fmt_duration(D), "--until-empty")
            meter.add("llmlb", p.popen.pid)
            p.popen.wait()
            p.rc, p.ended = p.popen.returncode, time.time()
            with lock:
                all_procs.append(p)
                invocations.append({"slot": slot, "start": p.started, "stop_claims":
                                    p.started + runtime, "exit": p.ended, "rc": p.rc})
            return p

        if sync:
            while C.unsolved_count(url) > 0:
                ts = [threading.Thread(target=invoke, args=(k, R)) for k in range(cfg.procs)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                if C.unsolved_count(url) > 0:
                    time.sleep(gap)
        else:
            def slot_loop(k: int) -> None:
                first = True
                while C.unsolved_count(url) > 0:
                    # Staggered boundaries: slot k's first invocation is (k+1)/procs of R long.
                    invoke(k, R * (k + 1) / cfg.procs if first else R)
                    first = False

            ts = [threading.Thread(target=slot_loop, args=(k,)) for k in range(cfg.procs)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        cpu = meter.stop()
        rows = C.task_rows(url)
        calls = C.call_rows(url)
        dbs = C.db_stats(url)
    loads.append(_load_note(cfg, "after"))
    arrivals = C.read_arrivals(d / "arrivals.jsonl")
    res = summarise(name, cfg, t0, rows, arrivals, limits)
    res["cpu_s"], res["load"], res["db"] = cpu, loads, dbs
    res["llmlb"] = _llmlb_summaries(all_procs)
    res["llmlb"]["invocations"] = len(invocations)
    res["limits"] = {m: asdict(v) for m, v in limits.items()}
    res["calls_log_windows_over"] = _calls_windows(calls, limits, cfg)
    res["delivery_delay"] = _delivery_delay(calls, arrivals)
    _call_times(calls, res)
    res["abandoned_calls"] = sum(1 for c in calls if c[4] == "abandoned")
    lat = _mean_latency_by_model(arrivals, cfg)
    res["bound"] = makespan_bound(_n_by_model(rows), limits, lat)
    res["boundaries"] = _boundary_dips(cfg, name, title, arrivals, rows, invocations, limits, t0)
    sol = [r[6] for r in rows if r[6] is not None]
    spans = [(i["stop_claims"], i["exit"], "tab:red") for i in invocations]
    plot_run(cfg.out / f"{name}.png", f"{_label(name)} {title}\n(red: an invocation "
             "has stopped claiming and drains)", arrivals, t0,
             max(sol) if sol else time.time(), limits, solved_ts=sol, spans=spans,
             concurrency=cfg.procs * cfg.per_proc_limited,
             inflight_models=_inflight_bound(limits, cfg))
    res["figure"] = f"docs/bench/{name}.png"
    res["invocation_list"] = [{k: (round(v - t0, 3) if k in ("start", "stop_claims", "exit")
                                   else v) for k, v in i.items()} for i in invocations]
    return res


def _boundary_dips(cfg: Config, name: str, title: str, arrivals, rows, invocations, limits,
                   t0: float, bucket: float = 0.5, step: float = 0.25) -> dict:
    """Throughput around invocation boundaries, inside the steady part of the run (from 2 s
    after the start until the first model runs out of work), for calls arriving at the backend
    and for answers written.

    - Windows: a boundary window runs from an invocation stopping its claims (start +
      --max-runtime) until the same slot's next invocation started + 0.5 s (for DAG runs: the
      next run). dip = 1 - mean(buckets overlapping a window) / mean(the other buckets).
    - Aligned profile: the rate in ``step`` bins from -2 s to +6 s around each stop-claiming
      moment, averaged over the boundaries (a superposed-epoch average, so the noise of single
      buckets averages out); profile_dip = 1 - its mean over [0, drain + 0.5 s] / the mean rate
      of the whole steady part.
    """
    from .metrics import by_model

    ts_by = by_model(arrivals)
    last = min(float(v[-1]) for v in ts_by.values())
    lo, hi = t0 + 2.0, last - 0.5
    drain = cfg.scaled(cfg.e_drain_s)
    out = {"bucket_s": bucket, "steady_from_s": 2.0, "steady_to_s": round(hi - t0, 3),
           "drain_s": round(drain, 3)}
    if hi - lo < 8 * bucket:
        out["note"] = "run too short for a steady part"
        return out
    windows, events = [], []
    for i in invocations:
        if i["stop_claims"] >= i["exit"]:
            continue  # ended on its own (--until-empty) before its runtime was up
        nxt = [j["start"] for j in invocations
               if j["slot"] == i["slot"] and j["start"] > i["stop_claims"]]
        restart = min(nxt) if nxt else i["exit"]
        if lo < i["stop_claims"] < hi:
            windows.append((i["stop_claims"], restart + 0.5))
            events.append(i["stop_claims"])
    out["boundaries"] = len(events)
    all_ts = np.sort(np.array([r["ts"] for r in arrivals]))
    sol = np.sort(np.array([r[6] for r in rows if r[6] is not None]))
    rel = np.arange(-2.0, 6.0, step)
    profiles = {}
    for label, ts in (("calls", all_ts), ("answers", sol)):
        edges = np.arange(lo, hi, bucket)
        h, _ = np.histogram(ts, bins=np.append(edges, edges[-1] + bucket))
        y = h / bucket
        bnd = np.array([any(e < w1 and e + bucket > w0 for (w0, w1) in windows) for e in edges])
        steady = float(y[~bnd].mean()) if (~bnd).any() else float("nan")
        at = float(y[bnd].mean()) if bnd.any() else float("nan")
        ref = float(((ts >= lo) & (ts < hi)).sum() / (hi - lo))
        prof = []
        for ev in events:
            if ev + rel[0] >= lo and ev + rel[-1] + step <= hi:
                c, _ = np.histogram(ts, bins=np.append(ev + rel, ev + rel[-1] + step))
                prof.append(c / step)
        prof = np.array(prof)
        row = {"steady_mean_per_s": round(steady, 2), "boundary_mean_per_s": round(at, 2),
               "dip": round(1 - at / steady, 4) if bnd.any() and (~bnd).any() else None,
               "boundary_buckets": int(bnd.sum()), "steady_buckets": int((~bnd).sum()),
               "mean_rate_per_s": round(ref, 2), "profile_events": int(len(prof))}
        if len(prof):
            mean_prof = prof.mean(axis=0)
            in_drain = (rel >= 0) & (rel < drain + 0.5)
            row["profile_dip"] = round(1 - float(mean_prof[in_drain].mean()) / ref, 4)
            smooth = np.convolve(mean_prof, np.ones(2) / 2, mode="valid")
            row["profile_worst_0_5s_dip"] = round(1 - float(smooth.min()) / ref, 4)
            profiles[label] = (mean_prof, prof.std(axis=0) / np.sqrt(len(prof)), ref)
        out[label] = row
        if label == "calls":
            calls_plot = (edges - t0, y, bnd, steady)
    plot_boundaries(cfg.out / f"{name}_boundaries.png",
                    f"{_label(name)} throughput around invocation boundaries", *calls_plot,
                    bucket, rel, profiles, drain)
    out["figure"] = f"docs/bench/{name}_boundaries.png"
    return out


# ---- registry ---------------------------------------------------------------------------


def arrivals_plan(cfg: Config) -> dict:
    return {"backlog": cfg.arr_backlog, "rate": cfg.arr_rate, "duration": cfg.arr_duration_s}


SCENARIOS = {
    "a": lambda cfg: run_legacy(cfg),
    "b": lambda cfg: run_llmlb(
        cfg, "b_llmlb_equal", f"llmlb, {cfg.procs} processes x {cfg.per_proc} in flight, "
        "limits not binding", C.unbounded_limits(), cfg.per_proc),
    # (b) again with latencies (and so the request rate) 4x slower: separates llmlb's design
    # from this machine's CPU ceiling in the fast models' phases (not in the default set).
    "b_slow": lambda cfg: run_llmlb(
        replace(cfg, time_scale=cfg.time_scale * 4), "b_slow_llmlb_equal",
        f"llmlb, {cfg.procs} processes x {cfg.per_proc} in flight, limits not binding, time "
        f"scale x4", C.unbounded_limits(), cfg.per_proc),
    "c": lambda cfg: run_llmlb(
        cfg, "c_llmlb_limited", f"llmlb, {cfg.procs} processes x {cfg.per_proc_limited} in "
        "flight, binding per-model limits", c_limits(cfg), cfg.per_proc_limited),
    # (c) with burst 5 instead of 10: how much quota the claim pacing leaves unused when the
    # bucket is small (llmlb holds back rate x 0.15 s of every burst for delivery jitter).
    "c_b5": lambda cfg: run_llmlb(
        cfg, "c_b5_llmlb_limited", f"llmlb, {cfg.procs} processes x {cfg.per_proc_limited} in "
        "flight, binding per-model limits, burst 5", c_limits(cfg, burst=5),
        cfg.per_proc_limited),
    "d": bound_d,
    "u": run_pooled,
    "e": lambda cfg: run_cycling(cfg, "e_llmlb_cycling", sync=False),
    "e_sync": lambda cfg: run_cycling(cfg, "e_sync_llmlb_dag_runs", sync=True),
    "arr_a": lambda cfg: run_legacy(cfg, "arr_a_legacy", arrivals_plan(cfg)),
    "arr_b": lambda cfg: run_llmlb(
        cfg, "arr_b_llmlb", f"llmlb, {cfg.procs} x {cfg.per_proc} in flight, tasks arriving "
        "during the run", C.unbounded_limits(), cfg.per_proc, arrivals_plan(cfg)),
}


def dump(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, default=str) + "\n")
