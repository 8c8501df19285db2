"""Issue 14: failures that belong to the backend or the model, not the task, never fail the task.
An unreachable backend and a suspended model release their tasks with no attempt counted."""
from __future__ import annotations

import json
import time

from tests.sim_backend.harness import running_backend

from .conftest import (assert_all_answers_match, llmlb, set_limits, start_llmlb, stop,
                       wait_until)

FAST = ["--backoff-base", "50ms", "--backoff-max", "500ms"]


def count(db, where):
    return db.one(f"SELECT count(*) FROM tasks WHERE {where}")


def status_json(db):
    p = llmlb("status", "--json", db_url=db.url, check=True)
    return json.loads(p.stdout)


def test_backend_down_mid_run_fails_nothing_and_counts_no_attempt(migrated, tmp_path):
    db = migrated
    for m in ("m0", "m1"):
        set_limits(db.url, m, 600000, burst=200, max_inflight=50)
    db.insert_tasks([f"task {i}" for i in range(2000)])
    opts = dict(time_scale=0.01, seed=5, models={"models": ["m0", "m1"]})
    log = tmp_path / "w.log"
    with running_backend(**opts) as first:
        port = first.port
        worker = start_llmlb("work", "--backend-url", first.url, "--until-empty",
                             "--max-attempts", "2", *FAST, db_url=db.url, log=log)
        try:
            assert wait_until(lambda: count(db, "status = 'solved'") >= 300, 30), log.read_text()
            first.stop()
            down_at = time.monotonic()
            # The outage is seen and shared: status says so while the backend is down.
            assert wait_until(lambda: status_json(db)["backend"]["unreachable"], 10)
            solved_during = count(db, "status = 'solved'")
            p = llmlb("status", db_url=db.url, check=True)
            assert "Backend   unreachable since" in p.stdout, p.stdout
            p = llmlb("status", "--format", "prometheus", db_url=db.url, check=True)
            assert "llmlb_backend_unreachable 1" in p.stdout
            time.sleep(max(0.0, 20 - (time.monotonic() - down_at)))
            assert count(db, "status = 'failed'") == 0
            assert count(db, "status = 'solved'") == solved_during
            with running_backend(port=port, **opts):
                assert worker.wait(timeout=60) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                stop(worker)
    text = log.read_text()
    assert "backend unreachable" in text, text[-2000:]
    assert count(db, "status = 'solved'") == 2000, text[-2000:]
    assert count(db, "status = 'failed'") == 0
    # No attempt was spent on the outage: every attempt is a call that reached the backend (the
    # calls in flight when it stopped were reset by it, and those do count).
    assert db.one("SELECT count(*) FROM tasks t WHERE attempts <> (SELECT count(*)"
                  " FROM llmlb.calls c WHERE c.task_id = t.id"
                  " AND c.outcome IN ('ok', 'transient', 'permanent'))") == 0
    assert db.one("SELECT max(attempts) FROM tasks") <= 2
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE error_class = 'unreachable'") == 0
    assert status_json(db)["backend"]["unreachable"] is False
    assert_all_answers_match(db)


def test_unknown_model_is_suspended_and_resumes_by_itself(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=20, max_inflight=20, preference=10)
    set_limits(db.url, "m1", 60000, burst=20, max_inflight=20, preference=10)
    # "ghost" is filled first with unpinned work, and the backend does not know it.
    set_limits(db.url, "ghost", 60000, burst=5, max_inflight=5, preference=1)
    llmlb("limits", "set", "ghost", "--probe-interval", "2s", db_url=db.url, check=True)
    backend = backend_factory(time_scale=0.002, seed=7, models={"models": ["m0", "m1"]})
    db.insert_tasks([f"task {i}" for i in range(300)])
    pinned = db.insert_tasks([f"ghost {i}" for i in range(3)], model="ghost")[-3:]
    log = tmp_path / "w.log"
    # --until-empty would stop once only the suspended model's tasks are left: run for a while.
    worker = start_llmlb("work", "--backend-url", backend.url, "--max-runtime", "40s", *FAST,
                         db_url=db.url, log=log)
    try:
        assert wait_until(lambda: count(db, "status = 'solved' AND model IS NULL") == 300, 60), \
            log.read_text()
        assert count(db, "status = 'failed'") == 0
        assert db.one("SELECT count(*) FROM tasks WHERE answered_by = 'ghost'") == 0
        ghost = next(m for m in status_json(db)["models"] if m["name"] == "ghost")
        assert ghost["suspended"] is True and "404" in ghost["suspend_reason"], ghost
        p = llmlb("status", db_url=db.url, check=True)
        assert "suspended" in p.stdout and "Suspended ghost since" in p.stdout, p.stdout
        p = llmlb("status", "--format", "prometheus", db_url=db.url, check=True)
        assert 'llmlb_model_suspended{model="ghost"} 1' in p.stdout
        assert 'llmlb_model_suspended{model="m0"} 0' in p.stdout
        # Probes of the suspended model count no attempt either.
        time.sleep(2.5)
        assert db.one("SELECT max(attempts) FROM tasks") <= 1
        assert db.one("SELECT count(*) FROM tasks WHERE id = ANY(%s) AND attempts > 0",
                      (pinned,)) == 0
        # The backend learns the model: the next probe resumes it, within the probe interval.
        backend.set_config({"models": {"ghost": {}}})
        resumed_at = time.monotonic()
        assert wait_until(lambda: count(db, "status = 'solved'") == 303, 10), log.read_text()
        assert time.monotonic() - resumed_at < 2 + 2  # the probe interval, and some slack
        assert stop(worker) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            stop(worker)
    text = log.read_text()
    assert "model ghost suspended" in text and "model ghost answered again" in text, text
    assert count(db, "status = 'solved'") == 303
    assert count(db, "status = 'failed'") == 0
    ghost = next(m for m in status_json(db)["models"] if m["name"] == "ghost")
    assert ghost["suspended"] is False
    assert_all_answers_match(db)


def test_enable_resumes_a_suspended_model_at_once(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "ghost", 60000, burst=5, max_inflight=5)
    backend = backend_factory(time_scale=0.002, models={"models": ["m0"]})
    db.insert_tasks(["never failed"], model="ghost")
    p = llmlb("work", "--backend-url", backend.url, "--max-runtime", "2s", *FAST, db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.sql("SELECT status, attempts FROM tasks") == [("unsolved", 0)]
    assert status_json(db)["models"][0]["suspended"] is True
    llmlb("limits", "set", "ghost", "--enable", db_url=db.url, check=True)
    assert status_json(db)["models"][0]["suspended"] is False


def test_identical_permanent_errors_in_a_row_suspend_the_model(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=1, max_inflight=1)
    # A wrong --prompt-field: the backend answers 400 to every call. After 3 in a row the model
    # is suspended, and no later task fails.
    backend = backend_factory(time_scale=0.002, models={"models": ["m0"]})
    db.insert_tasks([f"t{i}" for i in range(20)])
    p = llmlb("work", "--backend-url", backend.url, "--max-runtime", "3s", "--prompt-field",
              "input", *FAST, db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert count(db, "status = 'failed'") <= 2
    assert count(db, "status = 'unsolved'") >= 18
    m0 = status_json(db)["models"][0]
    assert m0["suspended"] is True and "identical errors in a row" in m0["suspend_reason"], m0


def test_probe_interval_is_validated(migrated):
    p = llmlb("limits", "set", "m0", "--rpm", "60", "--probe-interval", "fast", db_url=migrated.url)
    assert p.returncode == 2
    assert "invalid --probe-interval 'fast'" in p.stderr
    assert migrated.one("SELECT count(*) FROM llmlb.models") == 0
