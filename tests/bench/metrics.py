"""Figures computed from a run: rates, windows over the limit, waits, the makespan bound.

Time stamps: the backend's arrival log (``time.time()`` when a request head arrived) and the
tasks' ``created_at``/``solved_at`` (database clock, ``clock_timestamp()``) are all Unix times
on the same machine, so they are compared directly.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from .common import MAX_LAT, MEDIANS, MIN_LAT, MODELS, SIGMA


def pct(values, q: float) -> float | None:
    a = np.asarray(values, dtype=float)
    return float(np.percentile(a, q)) if a.size else None


def item_latency(rec: dict) -> float:
    """The backend's own sampled latency of one item (already time-scaled)."""
    return rec.get("item_latency", rec.get("latency", 0.0))


def expected_latency(model: str, time_scale: float) -> float:
    """Mean of the backend's clipped lognormal latency of ``model`` (analytic, numerically
    integrated), times the time scale."""
    z = np.linspace(-9, 9, 200_001)
    w = np.exp(-z * z / 2)
    x = np.clip(MEDIANS[model] * np.exp(SIGMA * z), MIN_LAT, MAX_LAT)
    return float((x * w).sum() / w.sum()) * time_scale


def by_model(arrivals: list[dict]) -> dict[str, np.ndarray]:
    """Sorted arrival times per model (every record counts: each one is a provider call)."""
    out: dict[str, list[float]] = {}
    for r in arrivals:
        if r.get("model"):
            out.setdefault(r["model"], []).append(r["ts"])
    return {m: np.sort(np.asarray(v)) for m, v in out.items()}


def window_counts(ts: np.ndarray, width: float) -> np.ndarray:
    """For each arrival j, the number of arrivals in the closed window [ts_j, ts_j + width]:
    every window's maximum is reached with a window starting at an arrival."""
    if ts.size == 0:
        return np.zeros(0, dtype=int)
    return np.searchsorted(ts, ts + width, side="right") - np.arange(ts.size)


def windows_over(ts: np.ndarray, width: float, rpm: float, burst: float) -> dict:
    """Windows of ``width`` seconds (one starting at each arrival) holding more than
    ``rpm * width / 60 + burst`` arrivals: the token bucket's guarantee."""
    limit = rpm * width / 60.0 + burst
    c = window_counts(ts, width)
    return {"width_s": width, "limit": round(limit, 3), "max": int(c.max()) if c.size else 0,
            "over": int((c > limit + 1e-9).sum()), "windows": int(c.size)}


def model_table(arrivals: list[dict], limits: dict | None, time_scale: float,
                window_widths_unscaled=(1, 5, 60)) -> dict[str, dict]:
    """Per model: calls, active span, achieved rpm (calls over the first-to-last span) and its
    target, mean latency, and windows over the limit. Windows are W x time_scale seconds of
    benchmark time for W in 1, 5, 60 s (the same real-world windows, compressed like the
    latencies), plus the raw 1 s / 5 s / 60 s benchmark-time windows."""
    ts_by = by_model(arrivals)
    lat_by: dict[str, list[float]] = {}
    for r in arrivals:
        if r.get("model"):
            lat_by.setdefault(r["model"], []).append(item_latency(r))
    out = {}
    for m in MODELS:
        ts = ts_by.get(m, np.zeros(0))
        row = {"calls": int(ts.size)}
        if ts.size:
            span = float(ts[-1] - ts[0])
            row["span_s"] = round(span, 3)
            row["achieved_rpm"] = round((ts.size - 1) / span * 60, 1) if span > 0 else None
            row["mean_latency_s"] = round(float(np.mean(lat_by[m])), 4)
        lim = (limits or {}).get(m)
        if lim is not None:
            row["target_rpm"] = lim.rpm
            row["burst"] = lim.burst
            row["max_inflight"] = lim.max_inflight
            wins = {}
            for w in window_widths_unscaled:
                wins[f"{w}s_scaled"] = windows_over(ts, w * time_scale, lim.rpm, lim.burst)
                wins[f"{w}s_raw"] = windows_over(ts, float(w), lim.rpm, lim.burst)
            row["windows"] = wins
        out[m] = row
    return out


def model_capacity(lim, mean_latency: float) -> tuple[float, str]:
    """(capacity, what binds) of one model: capacity = min(rpm / 60, max_inflight / L) calls per
    second (the token bucket's long-run rate; Little's law with L the mean latency), and
    "rpm" or "max_inflight" for the smaller of the two (rpm on a tie)."""
    cap_rate = lim.rpm / 60.0
    cap_inflight = lim.max_inflight / mean_latency if mean_latency > 0 else math.inf
    return min(cap_rate, cap_inflight), "rpm" if cap_rate <= cap_inflight else "max_inflight"


def makespan_bound(n_by_model: dict[str, int], limits: dict, mean_latency: dict[str, float],
                   total_concurrency: int | None = None) -> dict:
    """Lower bound on the makespan of pinned work.

    Each model i can sustain at most capacity_i = min(rpm_i / 60, max_inflight_i / L_i) calls
    per second (the token bucket's long-run rate; Little's law with L_i the mean latency), and a
    pinned task can only go to its model, so the makespan is at least max_i n_i / capacity_i.
    (The pooled N / sum capacity_i is only a bound for unpinned work, which any model may take.)
    With a cap on the total calls in flight (C processes' --max-inflight-total), Little's law
    also gives sum_i n_i L_i / C."""
    per = {}
    for m, n in n_by_model.items():
        lat = mean_latency[m]
        cap, binds = model_capacity(limits[m], lat)
        per[m] = {"n": n, "capacity_per_s": round(cap, 4), "binds": binds,
                  "time_s": round(n / cap, 3), "mean_latency_s": round(lat, 4)}
    pinned = max(v["time_s"] for v in per.values())
    out = {"per_model": per, "pinned_bound_s": round(pinned, 3),
           "pooled_bound_s": round(sum(n_by_model.values())
                                   / sum(v["capacity_per_s"] for v in per.values()), 3)}
    bound = pinned
    if total_concurrency:
        little = sum(n * mean_latency[m] for m, n in n_by_model.items()) / total_concurrency
        out["concurrency_bound_s"] = round(little, 3)
        bound = max(bound, little)
    out["bound_s"] = round(bound, 3)
    return out


def pooled_bound(n_total: int, limits: dict, mean_latency: dict[str, float],
                 total_concurrency: int | None = None) -> dict:
    """Lower bound on the makespan of unpinned work, which any model may take: issue 3's
    N / sum_i min(rpm_i / 60, max_inflight_i / L_i), with L_i model i's mean latency.

    Also returns the calls in flight that running every model at its capacity needs (Little's
    law: sum_i capacity_i x L_i) and, with ``total_concurrency`` (the processes' summed
    --max-inflight-total), whether that cap leaves room for it; when it does not, the bound is
    optimistic and ``concurrency_binds`` says so."""
    per = {}
    for m, lim in limits.items():
        lat = mean_latency[m]
        cap, binds = model_capacity(lim, lat)
        per[m] = {"capacity_per_s": round(cap, 4), "mean_latency_s": round(lat, 4),
                  "binds": binds}
    total = sum(v["capacity_per_s"] for v in per.values())
    needed = sum(v["capacity_per_s"] * v["mean_latency_s"] for v in per.values())
    out = {"per_model": per, "n": n_total, "capacity_per_s": round(total, 4),
           "bound_s": round(n_total / total, 3) if total > 0 else math.inf,
           "inflight_needed": round(needed, 1)}
    if total_concurrency:
        out["total_concurrency"] = total_concurrency
        out["concurrency_binds"] = needed > total_concurrency
    return out


def backlog_phase(arrivals: list[dict], t0: float, t_end: float) -> dict:
    """Splits a run at its last call's arrival at the backend (when the backlog ran out):
    the calls per second up to then, and the drain after it (last answer - last call)."""
    ts = sorted(r["ts"] for r in arrivals if r.get("model"))
    if not ts:
        return {}
    busy = ts[-1] - t0
    return {"last_call_s": round(busy, 3), "calls": len(ts),
            "calls_per_s": round(len(ts) / busy, 3) if busy > 0 else None,
            "drain_s": round(t_end - ts[-1], 3)}


def ideal_makespan(latencies: list[float], rpm: float, burst: int, max_inflight: int) -> float:
    """Makespan of an overhead-free dispatcher serving one model's tasks with these latencies,
    in this order: each task starts as soon as both a token (GCRA over rpm with burst, full at
    time 0) and an in-flight slot are free; no claim, network or write-back time. This is what
    any dispatcher that does not know a call's latency in advance can at best hope for with
    these draws: unlike n / capacity it includes the drain at the end, where the last calls
    finish one by one while slots stand empty."""
    if not latencies:
        return 0.0
    interval = 60.0 / rpm if rpm > 0 else math.inf
    tolerance = (max(burst, 1) - 1) * interval
    tat = 0.0  # GCRA's theoretical arrival time
    ends: list[float] = []  # finish times of the calls in flight (a heap)
    last = 0.0
    for lat in latencies:
        free = heapq.heappop(ends) if len(ends) >= max_inflight else 0.0
        start = max(free, tat - tolerance, 0.0)
        tat = max(tat, start) + interval
        end = start + lat
        heapq.heappush(ends, end)
        last = max(last, end)
    return last


def replay_bound(arrivals: list[dict], limits: dict) -> dict:
    """The overhead-free dispatcher (ideal_makespan) of every model, replaying the latencies
    the backend drew for that model in a run, in the order it drew them. The latencies are
    independent draws, so the replay is a sample of what the ideal dispatcher would face. Bound
    = the slowest model's ideal makespan."""
    lat: dict[str, list[float]] = {}
    for r in sorted(arrivals, key=lambda r: r["ts"]):
        if r.get("model") in limits:
            lat.setdefault(r["model"], []).append(item_latency(r))
    per = {m: round(ideal_makespan(ls, limits[m].rpm, limits[m].burst, limits[m].max_inflight), 3)
           for m, ls in lat.items()}
    return {"per_model_s": per, "bound_s": max(per.values()) if per else None}


def rate_series(ts: np.ndarray, t0: float, t1: float, bucket: float) -> tuple[np.ndarray, np.ndarray]:
    """(bucket starts relative to t0, events per second in each bucket)."""
    edges = np.arange(t0, t1 + bucket, bucket)
    if edges.size < 2:
        edges = np.array([t0, t0 + bucket])
    h, _ = np.histogram(ts, bins=edges)
    return edges[:-1] - t0, h / bucket


def inflight_series(arrivals: list[dict], t0: float, t1: float, step: float):
    """Calls in flight at the backend over time (arrival .. arrival + its latency; a batch item
    is in flight until the whole batch is answered)."""
    s = np.array([r["ts"] for r in arrivals])
    e = s + np.array([r.get("latency", 0.0) for r in arrivals])
    grid = np.arange(t0, t1 + step, step)
    starts = np.searchsorted(np.sort(s), grid, side="right")
    ends = np.searchsorted(np.sort(e), grid, side="right")
    return grid - t0, starts - ends


def wait_stats(rows: list[tuple], ids: set | None = None, time_scale: float = 1.0) -> dict:
    """p50/p95/max of created_at -> solved_at over solved tasks (optionally only ``ids``), in
    benchmark seconds and in unscaled (real-world) seconds."""
    w = [r[6] - r[5] for r in rows if r[6] is not None and (ids is None or r[0] in ids)]
    if not w:
        return {"n": 0}
    p50, p95, mx = pct(w, 50), pct(w, 95), max(w)
    return {"n": len(w), "p50_s": round(p50, 3), "p95_s": round(p95, 3), "max_s": round(mx, 3),
            "p50_unscaled_s": round(p50 / time_scale, 1),
            "p95_unscaled_s": round(p95 / time_scale, 1)}


def check_answers(rows: list[tuple]) -> dict:
    """Every solved task's answer must be answer_for(model, prompt), a pinned task's model must
    have answered it, and an unpinned one's answered_by (rows of common.task_rows) names the
    model whose answer it must be."""
    from tests.sim_backend.answers import answer_for

    solved = [r for r in rows if r[3] == "solved"]
    bad = sum(1 for r in solved if r[4] != answer_for(r[1] or r[7], r[2]))
    foreign = sum(1 for r in solved if r[1] is not None and r[7] != r[1])
    return {"tasks": len(rows), "solved": len(solved), "wrong_answers": bad,
            "answered_by_other_model": foreign, "unsolved": len(rows) - len(solved)}
