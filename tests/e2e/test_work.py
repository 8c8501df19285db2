"""Issue 3: several `llmlb work` processes on one backlog, under global per-model quotas."""
from __future__ import annotations

import time

from .conftest import (assert_all_answers_match, llmlb, max_in_window, set_limits, start_llmlb,
                       stop, wait_until)

# name: (rpm, burst, max_inflight). Limits bind (latency is scaled down to 2-600 ms).
LIMITS = {
    "m0": (1200, 4, 8), "m1": (900, 3, 6), "m2": (600, 2, 4), "m3": (1500, 5, 10),
    "m4": (300, 1, 3), "m5": (1800, 6, 12), "m6": (450, 2, 5), "m7": (720, 3, 6),
    "m8": (2400, 8, 16), "m9": (360, 2, 4),
}


def configure(db_url, limits=LIMITS):
    for i, (m, (rpm, burst, inflight)) in enumerate(limits.items()):
        set_limits(db_url, m, rpm, burst=burst, max_inflight=inflight, preference=i)


def assert_rates_held(arrivals, limits, since=0.0, windows=(1, 5, 60)):
    """No model ever got more than rpm*W/60 + burst requests in any window of W seconds."""
    for model, (rpm, burst, _) in limits.items():
        ts = [a["ts"] for a in arrivals if a["model"] == model and a["ts"] >= since]
        for w in windows:
            seen = max_in_window(ts, w)
            bound = rpm * w / 60 + burst
            assert seen <= bound, f"{model}: {seen} calls in {w}s window > {bound}"


def test_many_workers_solve_a_backlog_exactly_once_within_limits(migrated, backend_factory,
                                                                 tmp_path):
    db = migrated
    configure(db.url)
    backend = backend_factory(time_scale=0.005, seed=7)
    unpinned = [f"task {i} ✓ \"q\" \\ {i * 7}" for i in range(1500)]
    db.insert_tasks(unpinned)
    for m in ("m2", "m4", "m9"):
        db.insert_tasks([f"pinned to {m} #{i}" for i in range(40)], model=m)
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                         "--max-inflight-total", "40", "--progress-interval", "2s",
                         db_url=db.url, log=tmp_path / f"w{i}.log") for i in range(4)]
    # Tasks inserted while the workers run are solved too.
    time.sleep(2.0)
    db.insert_tasks([f"late arrival {i}" for i in range(30)])
    codes = [p.wait(timeout=120) for p in procs]
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(4))
    assert codes == [0, 0, 0, 0], logs
    assert "progress:" in logs and "until-empty" in logs

    total = len(unpinned) + 120 + 30
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == total
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0
    # Exactly once: one successful call per task in the call log and at the backend.
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'ok'") == total
    arrivals = backend.arrivals()
    assert len([a for a in arrivals if a["outcome"] == "ok"]) == total
    assert_all_answers_match(db)
    assert db.sql("SELECT count(*) FROM tasks WHERE model IS NOT NULL AND answered_by <> model") \
        == [(0,)]
    assert_rates_held(arrivals, LIMITS)
    # The same proof, in SQL, from llmlb's own call log.
    for model, (rpm, burst, _) in LIMITS.items():
        worst = db.one("SELECT llmlb.max_calls_in_window(%s, '1 second', '-infinity')", (model,))
        assert worst <= rpm / 60 + burst + 1, (model, worst)  # closed window: +1 at the edge
    # Every model was used: unpinned work spreads over all enabled models.
    assert db.one("SELECT count(DISTINCT answered_by) FROM tasks") == 10


def test_unpinned_work_fills_preferred_models_first(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "fast", 6000, burst=100, max_inflight=50, preference=1)
    set_limits(db.url, "slow", 6000, burst=100, max_inflight=50, preference=2)
    backend = backend_factory(time_scale=0.002, models={"models": ["fast", "slow"]})
    db.insert_tasks([f"p{i}" for i in range(30)])
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.sql("SELECT answered_by, count(*) FROM tasks GROUP BY 1") == [("fast", 30)]


def test_priority_then_age_orders_claims(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 60, burst=1, max_inflight=1)
    backend = backend_factory(time_scale=0.001)
    db.insert_tasks(["low-old"], priority=0)
    db.insert_tasks(["high"], priority=5)
    db.insert_tasks(["low-new"], priority=0)
    p = llmlb("work", "--backend-url", backend.url, "--max-tasks", "1", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.sql("SELECT prompt FROM tasks WHERE status = 'solved'") == [("high",)]
    # The bucket is empty now (burst 1): the next claim waits about a second for its token.
    t0 = time.monotonic()
    p = llmlb("work", "--backend-url", backend.url, "--max-tasks", "1", db_url=db.url)
    assert p.returncode == 0
    assert time.monotonic() - t0 >= 0.5
    assert db.sql("SELECT prompt FROM tasks WHERE status = 'solved' ORDER BY solved_at") == [
        ("high",), ("low-old",)]


def test_pinned_task_of_unknown_or_disabled_model_stays_unsolved(migrated, backend_factory,
                                                                 tmp_path):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=50, max_inflight=20)
    set_limits(db.url, "m1", 6000, burst=50, max_inflight=20)
    llmlb("limits", "set", "m1", "--disable", db_url=db.url, check=True)
    backend = backend_factory(time_scale=0.001)
    db.insert_tasks(["free"] * 5)
    db.insert_tasks(["for ghost"] * 3, model="ghost")
    db.insert_tasks(["for m1"] * 2, model="m1")
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--progress-interval",
              "100ms", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert "ghost=3 (not configured)" in p.stderr
    assert "m1=2 (disabled)" in p.stderr
    assert db.sql("SELECT status, coalesce(model, '-'), count(*) FROM tasks GROUP BY 1, 2"
                  " ORDER BY 2") == [("unsolved", "ghost", 3), ("solved", "-", 5),
                                     ("unsolved", "m1", 2)] or \
        sorted(db.sql("SELECT status, coalesce(model, '-'), count(*) FROM tasks GROUP BY 1, 2")) \
        == sorted([("unsolved", "ghost", 3), ("solved", "-", 5), ("unsolved", "m1", 2)])


def test_lowered_limit_is_obeyed_within_a_second(migrated, backend_factory, tmp_path):
    db = migrated
    limits = {"m0": (3000, 10, 20)}
    configure(db.url, limits)
    backend = backend_factory(time_scale=0.002)
    db.insert_tasks([f"t{i}" for i in range(1200)])
    procs = [start_llmlb("work", "--backend-url", backend.url, "--max-runtime", "7s",
                         "--drain-timeout", "5s", db_url=db.url, log=tmp_path / f"w{i}.log")
             for i in range(3)]
    time.sleep(3.0)
    changed_at = time.time()
    # A plain UPDATE, as an operator would type it, must be obeyed by every running process.
    db.sql("UPDATE llmlb.models SET rpm = 600, burst = 2 WHERE name = 'm0'")
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0, 0]
    arrivals = [a for a in backend.arrivals() if a["model"] == "m0"]
    before = [a["ts"] for a in arrivals if a["ts"] < changed_at]
    assert len(before) > 100, "the high limit was not used before the change"
    assert_rates_held(arrivals, {"m0": (600, 2, 20)}, since=changed_at + 1.0, windows=(1, 2))
    after = [a["ts"] for a in arrivals if a["ts"] >= changed_at + 1.0]
    assert len(after) >= 20, "the lowered limit left the model idle"
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0


def test_max_runtime_exits_on_time_and_releases_work(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=50)
    # Calls take 10-20 s: far longer than the run, so the drain must give up and release.
    backend = backend_factory(time_scale=1.0, models={"default": {"median": 15, "sigma": 0.1},
                                                      "models": ["m0"]})
    db.insert_tasks([f"t{i}" for i in range(20)])
    t0 = time.monotonic()
    p = llmlb("work", "--backend-url", backend.url, "--max-runtime", "2s", "--drain-timeout",
              "1s", db_url=db.url, timeout=60)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert 2.9 <= elapsed < 5.0, elapsed
    assert "max-runtime" in p.stderr
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'unsolved' AND attempts = 0") == 20
    # A second process takes the released work at once.
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'abandoned'") == 20


def test_batch_endpoint_groups_same_model_tasks(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=50)
    set_limits(db.url, "m1", 60000, burst=100, max_inflight=50)
    backend = backend_factory(time_scale=0.002)
    db.insert_tasks([f"a{i}" for i in range(25)], model="m0")
    db.insert_tasks([f"b{i}" for i in range(7)], model="m1")
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--endpoint", "batch",
              "--batch-size", "10", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 32
    assert_all_answers_match(db)
    arrivals = backend.arrivals()
    assert {a["endpoint"] for a in arrivals} == {"batch"}
    assert len({a["req"] for a in arrivals}) <= 8


def test_custom_paths_and_field_names(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=10)
    names = dict(single_path="/v1/solve", model_field="engine", prompt_field="input",
                 answer_field="output")
    backend = backend_factory(time_scale=0.001, **names)
    db.insert_tasks(["x", "y"])
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", *flags, db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 2
    assert_all_answers_match(db)


def test_json_log_format(migrated, backend_factory):
    import json
    db = migrated
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=10)
    backend = backend_factory(time_scale=0.001)
    db.insert_tasks(["x"])
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--log-format", "json",
              db_url=db.url)
    assert p.returncode == 0
    events = [json.loads(line) for line in p.stderr.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["solved"] == 1
    assert all({"ts", "level", "event", "msg"} <= e.keys() for e in events)


def test_tasks_inserted_while_workers_idle_start_within_a_second(migrated, backend_factory,
                                                                 tmp_path):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=20, max_inflight=20)
    backend = backend_factory(time_scale=0.001)
    procs = [start_llmlb("work", "--backend-url", backend.url, "--max-runtime", "6s",
                         db_url=db.url, log=tmp_path / f"w{i}.log") for i in range(2)]
    time.sleep(1.5)
    for i in range(5):
        db.sql("INSERT INTO tasks (prompt) VALUES (%s)", (f"new {i}",))
        time.sleep(0.37)
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    waits = [r[0].total_seconds() for r in db.sql(
        "SELECT c.sent_at - t.created_at FROM tasks t JOIN llmlb.calls c ON c.task_id = t.id")]
    assert len(waits) == 5 and max(waits) < 1.0, waits
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 5


def test_a_process_that_claims_once_still_sweeps_expired_leases(migrated, backend_factory):
    # A process's first claim skips the sweep (it would delay the first request); a process that
    # ends after that one claim must still hand back leases that died with other workers.
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=50)
    backend = backend_factory(time_scale=0.001)
    db.insert_tasks(["held by a dead worker"])
    db.sql("UPDATE tasks SET lease_owner = 'dead', lease_token = 1, lease_model = 'm0',"
           " leased_at = clock_timestamp() - interval '1 minute',"
           " lease_expires_at = clock_timestamp() - interval '1 second'")
    db.insert_tasks(["free"])
    p = llmlb("work", "--backend-url", backend.url, "--max-tasks", "1", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert db.one("SELECT status FROM tasks WHERE prompt = 'free'") == "solved"
    assert db.sql("SELECT status, lease_owner FROM tasks WHERE prompt = 'held by a dead worker'") \
        == [("unsolved", None)]


def quota_writes(db):
    """Rows written to llmlb.quota so far (each claim writes the bucket of every model it claims
    for), once the server's statistics have caught up with the sessions that ended."""
    last, stable = None, 0
    for _ in range(30):
        now = db.one("SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables"
                     " WHERE relid = 'llmlb.quota'::regclass")
        stable = stable + 1 if now == last else 0
        if stable >= 2:
            break
        last = now
        time.sleep(0.1)
    return now


def test_claims_between_polls_cover_only_the_models_whose_token_is_due(migrated,
                                                                        backend_factory):
    """A claim costs the database a lock, a bucket write and a lease count for every model it
    covers. Between full claims (every --poll-interval) a worker claims only the models that can
    take a task: here one model (m0) paced at 20 calls/s next to nine whose next token is a minute
    away. Claiming every model each time wrote about 10 buckets per fast call."""
    db = migrated
    set_limits(db.url, "m0", 1200, burst=1, max_inflight=100)
    for i in range(1, 10):
        set_limits(db.url, f"m{i}", 1, burst=1, max_inflight=100)
        db.insert_tasks([f"slow m{i} #{k}" for k in range(3)], model=f"m{i}")
    db.insert_tasks([f"fast #{k}" for k in range(500)], model="m0")
    backend = backend_factory(instant=True)
    before = quota_writes(db)
    p = llmlb("work", "--backend-url", backend.url, "--max-runtime", "3s", "--poll-interval",
              "250ms", db_url=db.url)
    assert p.returncode == 0, p.stderr
    fast = db.one("SELECT count(*) FROM tasks WHERE model = 'm0' AND status = 'solved'")
    slow = db.one("SELECT count(*) FROM tasks WHERE model <> 'm0' AND status = 'solved'")
    # m0: 20/s for 3 s (and its burst); each slow model: its burst of one.
    assert 40 <= fast <= 70 and slow == 9, p.stderr
    writes = quota_writes(db) - before
    # Full claims: about 12 in 3 s, 10 buckets each; the others: m0's alone (about 3.3 writes
    # per m0 call here; 15 when every claim covered every model).
    assert writes < 5 * fast, f"{writes} bucket writes for {fast} fast calls"
