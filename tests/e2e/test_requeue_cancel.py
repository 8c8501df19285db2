"""Issue 14: `llmlb requeue` re-drives failed tasks, `llmlb cancel` ends unsolved ones."""
from __future__ import annotations

import json

from .conftest import llmlb, set_limits, start_llmlb, stop, wait_until


def fail(db, ids, error, attempts=3):
    db.sql("UPDATE tasks SET status = 'failed', attempts = %s, last_error = %s"
           " WHERE id = ANY(%s)", (attempts, error, ids))


def statuses(db):
    return dict(db.sql("SELECT status, count(*) FROM tasks GROUP BY 1"))


def test_requeue_dry_run_counts_and_changes_nothing(migrated):
    db = migrated
    ids = db.insert_tasks([f"t{i}" for i in range(10)])
    fail(db, ids[:4], "HTTP 404: unknown model")
    fail(db, ids[4:6], "gave up after 3 attempts: HTTP 503")
    before = db.sql("SELECT * FROM tasks ORDER BY id")
    p = llmlb("requeue", "--error", "HTTP 404", "--dry-run", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "llmlb: would requeue 4 task(s); nothing changed"
    assert db.sql("SELECT * FROM tasks ORDER BY id") == before


def test_requeue_puts_failed_tasks_back_with_attempts_reset(migrated, backend_factory):
    db = migrated
    ids = db.insert_tasks([f"t{i}" for i in range(30)])
    pinned = db.insert_tasks(["p0", "p1"], model="m1")[-2:]
    fail(db, ids[:20], "HTTP 404: unknown model")
    fail(db, ids[20:25], "HTTP 400: bad")
    fail(db, pinned, "HTTP 404: unknown model")
    # Filters combine: error and ids.
    p = llmlb("requeue", "--error", "404", "--ids", ",".join(map(str, ids[:3])), db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "llmlb: requeued 3 task(s)"
    # --model, in batches smaller than the set.
    p = llmlb("requeue", "--model", "m1", "--batch-size", "1", db_url=db.url)
    assert p.stdout.strip() == "llmlb: requeued 2 task(s)", p.stderr
    # --since: failed within the last hour (created now), batches of 7.
    p = llmlb("requeue", "--error", "404", "--since", "1h", "--batch-size", "7", db_url=db.url)
    assert p.stdout.strip() == "llmlb: requeued 17 task(s)", p.stderr
    assert statuses(db) == {"unsolved": 27, "failed": 5}
    rows = db.sql("SELECT attempts, last_error FROM tasks WHERE id = ANY(%s)", (ids[:20],))
    assert all(a == 0 and "404" in e for a, e in rows)  # last_error kept for the record
    # The requeued tasks are claimed and solved again.
    set_limits(db.url, "m0", 60000, burst=50, max_inflight=50)
    set_limits(db.url, "m1", 60000, burst=50, max_inflight=50)
    backend = backend_factory(time_scale=0.001)
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert statuses(db) == {"solved": 27, "failed": 5}


def test_requeue_and_cancel_reject_bad_input_and_change_nothing(migrated):
    db = migrated
    ids = db.insert_tasks(["a", "b"])
    fail(db, ids[:1], "x")
    before = db.sql("SELECT * FROM tasks ORDER BY id")
    for args in (["requeue", "--ids", "1,x"], ["requeue", "--since", "soon"],
                 ["requeue", "--batch-size", "0"], ["requeue", "--model", "a b"],
                 ["cancel"], ["cancel", "--ids", ""], ["cancel", "--ids", "-3"]):
        p = llmlb(*args, db_url=db.url)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert p.stdout == ""
    assert db.sql("SELECT * FROM tasks ORDER BY id") == before


def test_cancel_ends_unsolved_tasks_and_workers_skip_them(migrated, backend_factory):
    db = migrated
    ids = db.insert_tasks([f"t{i}" for i in range(10)])
    fail(db, ids[9:], "HTTP 400")
    p = llmlb("cancel", "--ids", ",".join(map(str, ids[:5])), "--dry-run", db_url=db.url)
    assert p.stdout.strip() == "llmlb: would cancel 5 task(s); nothing changed"
    p = llmlb("cancel", "--ids", ",".join(map(str, ids[:5] + ids[9:])), db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "llmlb: cancelled 5 task(s)"  # the failed one needs --failed
    assert statuses(db) == {"cancelled": 5, "unsolved": 4, "failed": 1}
    p = llmlb("cancel", "--ids", str(ids[9]), "--failed", db_url=db.url)
    assert p.stdout.strip() == "llmlb: cancelled 1 task(s)"
    set_limits(db.url, "m0", 60000, burst=50, max_inflight=50)
    backend = backend_factory(time_scale=0.001)
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert statuses(db) == {"cancelled": 6, "solved": 4}
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'cancelled' AND answer IS NOT NULL") == 0
    st = json.loads(llmlb("status", "--json", db_url=db.url, check=True).stdout)
    assert st["backlog"]["cancelled"] == 6


def test_cancel_of_a_task_in_flight_keeps_its_answer_out(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=5, max_inflight=5)
    # Every call takes 3 s: long enough to cancel the task while it is in flight.
    backend = backend_factory(time_scale=1.0, min_latency=3, max_latency=3)
    ids = db.insert_tasks(["slow one"])
    log = tmp_path / "w.log"
    worker = start_llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url,
                         log=log)
    try:
        assert wait_until(lambda: db.one("SELECT count(*) FROM llmlb.live_leases") == 1, 10)
        p = llmlb("cancel", "--ids", str(ids[0]), db_url=db.url)
        assert p.stdout.strip() == "llmlb: cancelled 1 task(s)", p.stderr
        assert worker.wait(timeout=20) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            stop(worker)
    assert wait_until(lambda: any(a["outcome"] == "ok" for a in backend.arrivals()), 5)
    row = db.sql("SELECT status, answer, answered_by, attempts FROM tasks")[0]
    assert row == ("cancelled", None, None, 0), row
    assert db.one("SELECT outcome FROM llmlb.calls") == "lost_lease"
