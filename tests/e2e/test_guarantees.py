"""Issue 14: one backend request per token and every request on record (llmlb.calls counts
exactly what the backend saw, even across connection resets and kill -9), fencing of answers
beyond the lease token, and a worker paused past its lease."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from tests.sim_backend.answers import answer_for

from .conftest import (assert_all_answers_match, max_in_window, set_limits, start_llmlb, stop,
                       wait_until)

# name: (rpm, burst, max_inflight)
LIMITS = {"m0": (1200, 4, 8), "m1": (900, 3, 6)}


def configure(db_url, limits=LIMITS):
    for i, (m, (rpm, burst, inflight)) in enumerate(limits.items()):
        set_limits(db_url, m, rpm, burst=burst, max_inflight=inflight, preference=i)


def assert_rates_held(arrivals, limits, windows=(1, 5, 60)):
    for model, (rpm, burst, _) in limits.items():
        ts = [a["ts"] for a in arrivals if a["model"] == model]
        for w in windows:
            seen = max_in_window(ts, w)
            assert seen <= rpm * w / 60 + burst, f"{model}: {seen} requests in a {w}s window"


def assert_calls_match_arrivals(db, arrivals):
    """Every request the backend saw is a row of llmlb.calls, and every row a request: per model,
    exactly."""
    seen = Counter(a["model"] for a in arrivals)
    logged = Counter(dict(db.sql("SELECT model, count(*) FROM llmlb.calls GROUP BY model")))
    assert seen == logged, (seen, logged)


def one_model_backend(backend_factory, median, **options):
    return backend_factory(models={"models": {"slow": {"median": median, "sigma": 0}}},
                           time_scale=1, min_latency=0.01, seed=1, **options)


@pytest.mark.parametrize("faults", [{"reuse_reset": 1.0}, {"drop": 0.04}],
                         ids=["reset_every_second_request", "random_drops"])
def test_resets_after_sending_are_never_resent_and_all_on_record(migrated, backend_factory,
                                                                  tmp_path, faults):
    """A kept-alive connection that dies after the request went out: libcurl would re-send the
    request on a new connection, a request no claim paid for and not in llmlb.calls."""
    db = migrated
    configure(db.url)
    backend = backend_factory(time_scale=0.005, seed=11, **{"fault_" + k: p
                                                            for k, p in faults.items()})
    db.insert_tasks([f"reset test {i}" for i in range(300)])
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                         "--max-attempts", "30", "--backoff-base", "50ms", "--backoff-max", "300ms",
                         db_url=db.url, log=tmp_path / f"w{i}.log") for i in range(2)]
    codes = [p.wait(timeout=120) for p in procs]
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(2))
    assert codes == [0, 0], logs
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 300, logs
    assert_all_answers_match(db)
    arrivals = backend.arrivals()
    faulted = sum(a["outcome"] in ("reuse_reset", "drop") for a in arrivals)
    assert faulted >= 10
    assert_calls_match_arrivals(db, arrivals)
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'ok'") == 300
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE finished_at IS NULL") == 0
    if "reuse_reset" in faults:
        assert db.one("SELECT count(*) FROM llmlb.calls"
                      " WHERE error_class = 'reset_after_send'") >= 10
    assert_rates_held(arrivals, LIMITS)


def test_kill_9_leaves_its_calls_on_record(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "slow", 6000, burst=50, max_inflight=50)
    backend = one_model_backend(backend_factory, 4)
    db.insert_tasks([f"killed {i}" for i in range(20)])
    victim = start_llmlb("work", "--backend-url", backend.url, "--max-tasks", "20", "--lease", "2s",
                         db_url=db.url, log=tmp_path / "victim.log")
    try:
        assert wait_until(lambda: len(backend.arrivals()) == 20, 15)
        assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'sent'") == 20
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    # The requests the dead worker sent are on record: its rows wait for their outcome.
    assert_calls_match_arrivals(db, backend.arrivals())
    time.sleep(2.5)  # its leases expire
    rescuer = start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                          db_url=db.url, log=tmp_path / "rescuer.log")
    assert rescuer.wait(timeout=60) == 0, (tmp_path / "rescuer.log").read_text()
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 20
    assert_all_answers_match(db)
    assert_calls_match_arrivals(db, backend.arrivals())
    # The dead worker's calls were closed by the sweep: outcome unknown, finished.
    assert db.sql("SELECT outcome, count(*) FROM llmlb.calls GROUP BY 1 ORDER BY 1") == \
        [("ok", 20), ("unknown", 20)]
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE finished_at IS NULL") == 0
    assert db.one("SELECT sum(attempts) FROM tasks") == 20  # the dead worker cost nothing


def test_an_answer_to_a_changed_task_is_not_stored(migrated, backend_factory, tmp_path):
    """A prompt edited mid-call gets the new prompt's answer; a task solved by hand mid-call
    keeps its hand-set answer. Both stale answers are logged as superseded calls."""
    db = migrated
    set_limits(db.url, "slow", 6000, burst=50, max_inflight=50)
    backend = one_model_backend(backend_factory, 2)
    db.insert_tasks(["old prompt", "solve me by hand"])
    (edited,), (by_hand,) = db.sql("SELECT id FROM tasks ORDER BY id")
    p = start_llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url,
                    log=tmp_path / "w.log")
    try:
        assert wait_until(lambda: len(backend.arrivals()) == 2, 10)
        db.sql("UPDATE tasks SET prompt = 'new prompt' WHERE id = %s", (edited,))
        db.sql("UPDATE tasks SET status = 'solved', answer = 'by hand', solved_at = now()"
               " WHERE id = %s", (by_hand,))
        assert p.wait(timeout=30) == 0
    finally:
        stop(p)
    log = (tmp_path / "w.log").read_text()
    assert db.sql("SELECT status, answer, attempts FROM tasks WHERE id = %s", (edited,)) == \
        [("solved", answer_for("slow", "new prompt"), 1)]
    assert db.sql("SELECT status, answer, attempts FROM tasks WHERE id = %s", (by_hand,)) == \
        [("solved", "by hand", 0)]
    calls = db.sql("SELECT task_id, outcome FROM llmlb.calls ORDER BY id")
    assert sorted(calls) == sorted([(edited, "superseded"), (by_hand, "superseded"),
                                    (edited, "ok")]), calls
    assert [a["outcome"] for a in backend.arrivals()] == ["ok", "ok", "ok"]
    assert_calls_match_arrivals(db, backend.arrivals())
    assert "the task changed since it was claimed" in log
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0


def test_a_worker_paused_past_its_lease_orphans_nothing(migrated, backend_factory, tmp_path):
    """SIGSTOP past the lease, then SIGCONT: the worker's own claim takes its tasks back under
    new leases; the new answers are written, the old ones refused as lost, at most two calls per
    task, and no task is left leased."""
    db = migrated
    set_limits(db.url, "slow", 6000, burst=50, max_inflight=50)
    backend = one_model_backend(backend_factory, 6)
    db.insert_tasks([f"paused {i}" for i in range(3)])
    p = start_llmlb("work", "--backend-url", backend.url, "--until-empty", "--lease", "2s",
                    db_url=db.url, log=tmp_path / "w.log")
    try:
        assert wait_until(lambda: len(backend.arrivals()) == 3, 10)
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(3.0)  # past the 2 s lease, the first calls still in flight (6 s)
        os.kill(p.pid, signal.SIGCONT)
        started = time.monotonic()
        assert p.wait(timeout=30) == 0
        took = time.monotonic() - started
    finally:
        os.kill(p.pid, signal.SIGCONT) if p.poll() is None else None
        stop(p)
    log = (tmp_path / "w.log").read_text()
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 3, log
    assert_all_answers_match(db)
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0
    per_task = db.sql("SELECT task_id, count(*) FROM llmlb.calls GROUP BY 1")
    assert all(n <= 2 for _, n in per_task), per_task
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'ok'") == 3
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE finished_at IS NULL") == 0
    assert_calls_match_arrivals(db, backend.arrivals())
    assert took < 12, (took, log)  # one more round of 6 s calls, no lease expiring again
