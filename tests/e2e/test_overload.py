"""Issue 16: overload protection against a backend with finite capacity.

Two models, each with 8 service slots at the simulated backend (calls beyond them wait in a FIFO
queue, and a call whose client timed out keeps its place and its slot), median service 100 ms.
llmlb's limits are set 4x and 8x above what the models can serve, with a request timeout of
500 ms (about 1.5x the p99 service time). With overload protection llmlb must keep the models
busy with useful work (goodput >= 90% of their capacity), fail no task, and re-send fewer than
5% of its calls; without it (--no-overload-protection) the same run collapses.
"""

from __future__ import annotations

import math
import statistics
import time

import pytest

from .conftest import assert_all_answers_match, llmlb, set_limits, start_llmlb

SLOTS = 8
MEDIAN_S = 0.1
SIGMA = 0.5
MODELS = ("m0", "m1")
TIMEOUT = "500ms"


def _backend(backend_factory, tmp_path):
    spec = {"median": MEDIAN_S, "sigma": SIGMA, "slots": SLOTS}
    return backend_factory(seed=16, min_latency=0.001, time_scale=1,
                           models={"models": {m: dict(spec) for m in MODELS}},
                           arrival_log=tmp_path / "arrivals.jsonl")


def _capacity_per_s(arrivals) -> float:
    """What the backend can serve, from its own figures: slots / mean service time."""
    service = [a["service"] for a in arrivals if a.get("service") is not None]
    assert len(service) > 100
    return len(MODELS) * SLOTS / statistics.fmean(service)


def _run(db, backend, tmp_path, factor, n, protection=True, workers=2):
    # Limits `factor` times the capacity: max_inflight and the rate.
    cap_model = SLOTS / (MEDIAN_S * math.exp(SIGMA * SIGMA / 2))
    for m in MODELS:
        set_limits(db.url, m, round(cap_model * 60 * factor), burst=SLOTS * factor,
                   max_inflight=SLOTS * factor)
    db.insert_tasks([f"overload task {i}" for i in range(n)])
    extra = [] if protection else ["--no-overload-protection"]
    t0 = time.time()
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                         "--request-timeout", TIMEOUT, "--backoff-base", "100ms",
                         "--backoff-max", "1s", *extra, db_url=db.url,
                         log=tmp_path / f"w{i}.log") for i in range(workers)]
    codes = [p.wait(timeout=240) for p in procs]
    elapsed = time.time() - t0
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(workers))
    assert codes == [0] * workers, logs
    return elapsed, logs


def _figures(db, backend, n):
    """Outcomes, re-sent calls, and goodput against the backend's capacity. Goodput is measured
    while the backlog lasts: from the 10th to the 90th percentile of the tasks' solved_at (the
    first calls of a model llmlb has never seen go out at its configured limit, and a run's end
    drains; see docs/benchmarks.md for whole-run figures)."""
    solved = db.one("SELECT count(*) FROM tasks WHERE status = 'solved'")
    failed = db.one("SELECT count(*) FROM tasks WHERE status = 'failed'")
    arrivals = [a for a in backend.arrivals() if a.get("model") in MODELS]
    t10, t90 = db.sql("SELECT extract(epoch FROM percentile_disc(0.1) WITHIN GROUP"
                      " (ORDER BY solved_at)), extract(epoch FROM percentile_disc(0.9) WITHIN"
                      " GROUP (ORDER BY solved_at)) FROM tasks WHERE status = 'solved'")[0]
    inside = db.one("SELECT count(*) FROM tasks WHERE status = 'solved' AND solved_at"
                    " BETWEEN to_timestamp(%s) AND to_timestamp(%s)", (t10, t90))
    return {"solved": solved, "failed": failed, "calls": len(arrivals),
            "resent": (len(arrivals) - n) / len(arrivals),
            "goodput": inside / max(float(t90) - float(t10), 1e-9),
            "capacity": _capacity_per_s(arrivals)}


@pytest.mark.parametrize("factor", [4, 8])
def test_limits_above_capacity_keep_goodput_with_protection(migrated, backend_factory, tmp_path,
                                                            factor):
    db = migrated
    n = 3000
    backend = _backend(backend_factory, tmp_path)
    _, logs = _run(db, backend, tmp_path, factor, n)
    f = _figures(db, backend, n)
    assert f["failed"] == 0 and f["solved"] == n, (f, logs[-3000:])
    assert f["goodput"] >= 0.9 * f["capacity"], f
    assert f["resent"] < 0.05, f
    assert_all_answers_match(db)
    assert "model_overloaded" in logs or "cannot keep up" in logs, logs[-3000:]
    # status shows the learned limit next to the configured one, and why.
    out = llmlb("status", "--format", "json", db_url=db.url, check=True).stdout
    assert '"effective_max_inflight"' in out and '"overloads_total"' in out


def test_without_protection_the_same_run_collapses(migrated, backend_factory, tmp_path):
    db = migrated
    n = 600
    backend = _backend(backend_factory, tmp_path)
    _run(db, backend, tmp_path, 8, n, protection=False)
    f = _figures(db, backend, n)
    # The queue at the backend outgrows the timeout: calls are re-sent into it, and most of the
    # backend's work is for callers that already gave up.
    assert f["resent"] > 0.3, f
    assert f["goodput"] < 0.7 * f["capacity"] or f["failed"] > 0, f
