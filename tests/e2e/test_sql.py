"""The shared SQL functions, called directly: the quota arithmetic every process relies on."""
from __future__ import annotations

import time

import psycopg

from .conftest import set_limits


def claim(db, worker="w", want=100, models=None, lease=30, sweep=None):
    if sweep is None:  # the four-argument form: sweeps when due
        rows = db.sql("SELECT kind, model, task_id, lease_token, wait_seconds, note"
                      " FROM llmlb.claim(%s, %s, %s, %s)", (worker, want, models, lease))
    else:
        rows = db.sql("SELECT kind, model, task_id, lease_token, wait_seconds, note"
                      " FROM llmlb.claim(%s, %s, %s, %s, %s)",
                      (worker, want, models, lease, sweep))
    tasks = [r for r in rows if r[0] == "task"]
    states = {r[1]: (r[5], r[4]) for r in rows if r[0] == "model"}
    return tasks, states


def test_bucket_grants_burst_then_rate(migrated):
    db = migrated
    set_limits(db.url, "m0", 60, burst=5, max_inflight=100)  # 1 per second
    db.insert_tasks([f"t{i}" for i in range(20)])
    tasks, states = claim(db)
    # 5 - 1/s x 0.15 s held back for delivery jitter: 4 at once.
    assert len(tasks) == 4
    assert states["m0"][0] == "rate" and 0 < states["m0"][1] <= 1.2
    tasks, states = claim(db)
    assert tasks == [] and states["m0"][0] == "rate"
    time.sleep(1.1)
    tasks, _ = claim(db)
    assert len(tasks) == 1


def test_max_inflight_counts_live_leases_and_expired_ones_come_back(migrated):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=3)
    db.insert_tasks([f"t{i}" for i in range(10)])
    tasks, states = claim(db, lease=0.3)
    assert len(tasks) == 3 and states["m0"][0] == "inflight"
    assert claim(db)[0] == []
    time.sleep(0.4)  # the holder "died": its leases expire and the slots free themselves
    tasks, _ = claim(db, worker="other")
    assert len(tasks) == 3
    assert db.one("SELECT count(*) FROM tasks WHERE lease_owner = 'other'") == 3
    assert db.one("SELECT max(attempts) FROM tasks") == 0


def test_disabled_and_unlisted_models_are_not_served(migrated):
    db = migrated
    set_limits(db.url, "a", 6000, burst=50, max_inflight=50)
    set_limits(db.url, "b", 6000, burst=50, max_inflight=50)
    db.insert_tasks(["for a"], model="a")
    db.insert_tasks(["for b"], model="b")
    tasks, states = claim(db, models=["b"])
    assert [t[1] for t in tasks] == ["b"] and set(states) == {"b"}
    db.sql("UPDATE llmlb.models SET enabled = false WHERE name = 'a'")
    tasks, states = claim(db)
    assert tasks == [] and "a" not in states


def test_429_cooldown_then_halved_rate_recovering(migrated):
    db = migrated
    set_limits(db.url, "m0", 600, burst=10, max_inflight=100)  # 10 per second
    db.insert_tasks([f"t{i}" for i in range(50)])
    db.sql("SELECT llmlb.note_rate_limited('m0', 0.5, 1)")
    tasks, states = claim(db)
    assert tasks == [] and states["m0"][0] == "cooldown"
    assert 0.3 < states["m0"][1] <= 0.5
    factor = db.one("SELECT rate_factor FROM llmlb.quota")
    assert factor == 0.5
    db.sql("SELECT llmlb.note_rate_limited('m0', 0.5, 1)")
    assert db.one("SELECT rate_factor FROM llmlb.quota") < 0.5  # repeated 429s lower it more
    # The configured limit itself is never changed.
    assert db.one("SELECT rpm FROM llmlb.models") == 600
    time.sleep(0.6)
    tasks, states = claim(db)
    assert states["m0"][0] in ("rate", "idle", "granted")
    # Recovery is linear back to 1 over about 30 s.
    assert db.one("SELECT llmlb.effective_factor(q, clock_timestamp() + interval '40 seconds')"
                  " FROM llmlb.quota q") == 1


def test_retry_waits_until_retry_at(migrated):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=100)
    db.insert_tasks(["flaky"])
    (task,), _ = claim(db)
    done = db.sql("SELECT retried FROM llmlb.complete('w', %s, 5)", (
        '[{"id": %d, "token": %d, "model": "m0", "outcome": "transient", "error": "HTTP 503",'
        ' "retry_seconds": 0.5}]' % (task[2], task[3]),))
    assert done == [(1,)]
    assert claim(db)[0] == []
    time.sleep(0.6)
    tasks, _ = claim(db)
    assert [t[2] for t in tasks] == [task[2]]
    assert db.one("SELECT attempts FROM tasks") == 1


def test_claim_never_takes_more_than_granted_under_concurrency(migrated):
    import threading
    db = migrated
    set_limits(db.url, "m0", 60, burst=20, max_inflight=1000)
    db.insert_tasks([f"t{i}" for i in range(200)])
    got = []

    def worker(i):
        from .conftest import Database
        d = Database(db.url)
        try:
            for _ in range(5):
                got.extend(claim(d, worker=f"w{i}", want=7)[0])
        finally:
            d.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [t[2] for t in got]
    assert len(ids) == len(set(ids)), "a task was claimed twice"
    # Burst 20 minus 0.15 s of rate, plus about a token per second of the test.
    assert 19 <= len(ids) <= 19 + 5


def test_pinned_work_is_shared_fairly_within_a_claim(migrated):
    db = migrated
    for i, m in enumerate(("a", "b", "c")):
        set_limits(db.url, m, 600000, burst=5000, max_inflight=1000, preference=i)
        db.insert_tasks([f"{m}{k}" for k in range(50)], model=m)
    tasks, states = claim(db, want=30)
    by_model = {}
    for t in tasks:
        by_model[t[1]] = by_model.get(t[1], 0) + 1
    assert by_model == {"a": 10, "b": 10, "c": 10}
    assert states["a"][0] == states["b"][0] == "more" and states["c"][0] == "full"
    # Unpinned work still goes to the preferred model first.
    db.sql("DELETE FROM tasks")
    db.insert_tasks([f"u{k}" for k in range(20)])
    tasks, _ = claim(db, want=30)
    assert {t[1] for t in tasks} == {"a"} and len(tasks) == 20


def test_expired_leases_are_swept_within_a_quarter_second(migrated):
    db = migrated
    set_limits(db.url, "m0", 600000, burst=5000, max_inflight=1000)
    db.insert_tasks(["x"])
    assert len(claim(db, lease=0.05)[0]) == 1
    time.sleep(0.3)
    claim(db, worker="w2", want=0)  # any claim may sweep
    time.sleep(0.3)
    assert len(claim(db, worker="w3")[0]) == 1


def test_claim_without_sweep_leaves_expired_leases_to_sweep_if_due(migrated):
    db = migrated
    set_limits(db.url, "m0", 600000, burst=5000, max_inflight=1000)
    db.insert_tasks(["x"])
    assert len(claim(db, lease=0.05)[0]) == 1
    time.sleep(0.3)  # the lease expired, and the last sweep is over 250 ms old
    tasks, states = claim(db, worker="w2", sweep=False)
    assert tasks == [] and states["m0"][0] == "idle"
    assert db.one("SELECT lease_owner FROM tasks") == "w"  # still the dead worker's
    assert db.one("SELECT llmlb.sweep_if_due()") == 1
    db.sql("UPDATE tasks SET lease_token = 1, lease_owner = 'w', lease_model = 'm0',"
           " leased_at = clock_timestamp(), lease_expires_at = clock_timestamp()")
    assert db.one("SELECT llmlb.sweep_if_due()") == 0  # swept under 250 ms ago: not due
    time.sleep(0.3)
    assert db.one("SELECT llmlb.sweep_if_due()") == 1
    assert len(claim(db, worker="w3", sweep=False)[0]) == 1


def test_models_without_work_are_idle_and_their_buckets_untouched(migrated):
    db = migrated
    set_limits(db.url, "a", 60, burst=5, max_inflight=10, preference=0)
    set_limits(db.url, "b", 60, burst=5, max_inflight=10, preference=1)
    db.insert_tasks(["for b"] * 3, model="b")
    tasks, states = claim(db)
    assert [t[1] for t in tasks] == ["b"] * 3
    assert states["a"] == ("idle", 0) and states["b"][0] == "idle"
    # Only b's bucket was written; a's has no row yet and starts full when work arrives.
    assert db.sql("SELECT m.name FROM llmlb.quota q JOIN llmlb.models m ON m.id = q.model_id") \
        == [("b",)]
    db.insert_tasks([f"for a {i}" for i in range(10)], model="a")
    tasks, states = claim(db)
    assert len(tasks) == 4 and states["a"][0] == "rate"  # burst 5 less 0.15 s of 1/s


def test_a_model_disabled_while_a_claim_waits_for_its_lock_is_skipped(migrated):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=50, max_inflight=50)
    db.insert_tasks(["x"] * 5)
    import threading
    import psycopg
    holder = psycopg.connect(db.url)
    holder.execute("SELECT pg_advisory_xact_lock(72617, id) FROM llmlb.models WHERE name = 'm0'")
    out = {}
    t = threading.Thread(target=lambda: out.update(r=claim(db)))
    t.start()
    time.sleep(0.3)  # the claim is now waiting for m0's lock
    holder.execute("UPDATE llmlb.models SET enabled = false WHERE name = 'm0'")
    holder.commit()
    t.join(10)
    holder.close()
    tasks, states = out["r"]
    assert tasks == [] and "m0" not in states


def add_tasks(db, n, **columns):
    """Inserts n tasks 'task 1'..'task n' in one statement; ``columns`` are constant values."""
    names = "".join(f", {c}" for c in columns)
    values = "".join(", %s" for _ in columns)
    db.sql(f"INSERT INTO tasks (prompt{names}) SELECT 'task ' || g{values}"
           " FROM generate_series(1, %s) g", (*columns.values(), n))


def rows_scanned(db, step, times):
    """Runs step(connection, i) for i in range(times) in one session and one transaction, and
    returns how many rows of tasks that read by sequential scan (pg_stat_xact_user_tables
    counts exactly this transaction). The functions under test plan once per session, so the
    plan chosen on the first call is the one every later call uses."""
    with psycopg.connect(db.url) as c:
        for i in range(times):
            step(c, i)
        return c.execute("SELECT seq_tup_read FROM pg_stat_xact_user_tables"
                         " WHERE relid = 'public.tasks'::regclass").fetchone()[0]


def claims_of(want):
    def step(c, _):
        got = c.execute("SELECT count(*) FROM llmlb.claim('w', %s, NULL, 60, false)"
                        " WHERE kind = 'task'", (want,)).fetchone()[0]
        assert got == want
    return step


def test_unpinned_probe_reads_its_index_not_the_solved_tasks(migrated):
    """claim()'s "any unpinned work?" probe must read the unpinned partial index: written as
    EXISTS, its generic plan was a sequential scan stopping at the first match, which
    read every solved task lying in front of the first unsolved one, on every claim."""
    db = migrated
    set_limits(db.url, "m0", 600000, burst=1000, max_inflight=100000)
    add_tasks(db, 5000, status="solved", answer="a", answered_by="m0")
    add_tasks(db, 2000)
    db.sql("ANALYZE tasks")
    read = rows_scanned(db, claims_of(10), 5)
    assert read < 5000, f"5 claims read {read} task rows by sequential scan"


def test_claim_updates_its_tasks_by_key_not_by_scanning_the_table(migrated):
    """claim()'s UPDATE of the tasks it picked must find them through the primary key. Joined
    as UPDATE ... FROM c, its generic plan on a fresh backlog was a hash join over a
    sequential scan of the whole tasks table, on every claim, with the models' advisory locks
    held."""
    db = migrated
    set_limits(db.url, "m0", 600000, burst=1000, max_inflight=100000)
    add_tasks(db, 5000)
    db.sql("ANALYZE tasks")
    read = rows_scanned(db, claims_of(2), 5)
    assert read < 5000, f"5 claims read {read} task rows by sequential scan"


def test_sweep_returns_expired_leases_by_key_not_by_scanning_the_table(migrated):
    """sweep()'s UPDATEs must find the rows they picked through the primary key, like claim()'s:
    here the statistics see many live leases, which made UPDATE ... FROM c plan as a
    hash join over the whole table."""
    db = migrated
    add_tasks(db, 5000)
    db.sql("UPDATE tasks SET lease_owner = 'w', lease_token = id, lease_model = 'm0',"
           " leased_at = now(), lease_expires_at = now() + interval '1 hour' WHERE id <= 2000")
    db.sql("ANALYZE tasks")

    def expire_ten_and_sweep(c, k):
        c.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 second'"
                  " WHERE id > %s AND id <= %s", (k * 10, (k + 1) * 10))
        assert c.execute("SELECT llmlb.sweep()").fetchone()[0] == 10

    read = rows_scanned(db, expire_ten_and_sweep, 3)
    assert read < 5000, f"3 sweeps read {read} task rows by sequential scan"
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 2000 - 30


def test_in_flight_count_reads_the_leased_index(migrated):
    """claim() counts a model's live leases through llmlb.live_leases; under the generic plan
    that claim() uses, the count must read tasks_llmlb_leased_idx, never the whole table."""
    db = migrated
    add_tasks(db, 5000)
    db.sql("UPDATE tasks SET lease_owner = 'w', lease_token = id, lease_model = 'm' || (id % 3),"
           " leased_at = now(), lease_expires_at = now() + (id % 2) * interval '1 hour'"
           " WHERE id <= 600")
    db.sql("ANALYZE tasks")
    with psycopg.connect(db.url) as c:
        c.execute("SET plan_cache_mode = force_generic_plan")
        c.execute("PREPARE inflight(text) AS"
                  " SELECT count(*) FROM llmlb.live_leases l WHERE l.model = $1")
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN EXECUTE inflight('m1')"))
        assert "tasks_llmlb_leased_idx" in plan and "Seq Scan" not in plan, plan
        assert c.execute("EXECUTE inflight('m1')").fetchone()[0] == 100
    assert db.one("SELECT count(*) FROM llmlb.live_leases") == 300
    assert db.sql("SELECT model, count(*) FROM llmlb.live_leases GROUP BY 1 ORDER BY 1") == \
        [("m0", 100), ("m1", 100), ("m2", 100)]
