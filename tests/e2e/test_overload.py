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


def _report(db, model, ok=0, timeouts=0, overloaded=0, median=None, claimed_at=None, ratio=2.5,
            timeout_ms=600):
    return db.sql("SELECT effective, configured, lowered, reason FROM llmlb.note_overload("
                  "%s, %s, %s, %s, %s, %s::timestamptz, %s, %s)",
                  (model, ok, timeouts, overloaded, median, claimed_at, timeout_ms, ratio))[0]


def test_note_overload_arithmetic_shared_and_forgotten_by_enable(migrated):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=100, max_inflight=64)
    db.insert_tasks([f"t{i}" for i in range(100)], model="m0")
    # The first answers set the baseline; nothing is lowered.
    assert _report(db, "m0", ok=20, median=100) == (64, 64, False, None)
    # 40 calls in flight; two timeouts and one answer: halved, from the calls in flight.
    db.sql("SELECT count(*) FROM llmlb.claim('w', 40, NULL, 60, false)")
    eff, conf, lowered, reason = _report(db, "m0", ok=1, timeouts=2)
    assert (eff, conf, lowered) == (20, 64, True) and "2 of 3 calls timed out" in reason
    # claim() obeys it: nothing more while 40 are in flight.
    notes = db.sql("SELECT note FROM llmlb.claim('w', 10, NULL, 60, false) WHERE kind = 'model'")
    assert notes == [("inflight",)]
    # A slow median from a call claimed before that decrease is no new signal.
    before = "2000-01-01 00:00:00+00"
    assert _report(db, "m0", ok=20, median=400, claimed_at=before)[:3] == (20, 64, False)
    # From a call claimed after it: N x baseline / median + sqrt(N) = 20 x 100/400 + 4.47.
    now = db.one("SELECT clock_timestamp()::text")
    eff, _, lowered, reason = _report(db, "m0", ok=20, median=400, claimed_at=now)
    assert (eff, lowered) == (9, True) and "over 2.5 x its baseline of 100 ms" in reason
    # One timeout in the tail of many answers is no signal; answers raise it by ok / limit.
    assert _report(db, "m0", ok=19, timeouts=1, median=100)[:3] == (11, 64, False)
    # The worker's own status shows configured vs effective, and why.
    table = llmlb("status", db_url=db.url, check=True).stdout
    assert "of 64" in table and "Overload  m0: at most 11 of 64 calls in flight" in table
    # A latency ratio of 0 ignores latency (the answers raise it: 11.x + 10 / 11.x); fewer than
    # 20 calls say nothing about latency either.
    assert _report(db, "m0", ok=10, median=10_000, claimed_at=now, ratio=0)[:3] == (12, 64, False)
    # A median far within the request timeout is no signal (a queue that costs only latency).
    assert _report(db, "m0", ok=20, median=300, claimed_at=now, timeout_ms=60_000)[2] is False
    # One stray 503 among many answers is no signal; two making a tenth of the calls halve.
    assert _report(db, "m0", ok=30, overloaded=1, median=100)[2] is False
    eff = _report(db, "m0", ok=1, overloaded=2)[0]
    assert _report(db, "m0")[0] == eff and 6 <= eff <= 8
    # Every process sees it (another connection reads the same row); --enable forgets it.
    assert db.one("SELECT floor(inflight_limit) FROM llmlb.quota") == eff
    llmlb("limits", "set", "m0", "--enable", db_url=db.url, check=True)
    assert _report(db, "m0") == (64, 64, False, None)
    # An unknown model: no row.
    assert db.sql("SELECT * FROM llmlb.note_overload('nope', 1, 0, 0, 1, NULL, 600, 2.5)") == []
