"""Issue 17: token budgets (tokens per minute), reserved at the claim and settled at the answer.

The SQL functions are called directly here (claim, complete, sweep), as test_sql.py does; the
window test with several `llmlb work` processes against the simulated backend is
test_token_windows.py."""
from __future__ import annotations

import json
import math
import time

import psycopg
import pytest

from .conftest import llmlb, set_limits
from .test_sql import claim

BPT = 4  # the default bytes per token


def est(prompt: str) -> int:
    return max(1, math.ceil(len(prompt.encode()) / BPT))


def set_tpm(db_url, model, tpm, burst=None, rpm=60000, inflight=1000):
    set_limits(db_url, model, rpm, burst=5000, max_inflight=inflight)
    args = ["limits", "set", model, "--tpm", tpm]
    if burst is not None:
        args += ["--tpm-burst", burst]
    llmlb(*args, db_url=db_url, check=True)


def complete(db, results, max_attempts=5):
    return db.sql("SELECT * FROM llmlb.complete('w', %s, %s)",
                  (json.dumps(results), max_attempts))


def level(db, model="m0"):
    return db.one("SELECT q.tpm_level FROM llmlb.quota q JOIN llmlb.models m"
                  " ON m.id = q.model_id WHERE m.name = %s", (model,))


def reserved(db):
    return dict(db.sql("SELECT task_id, reserved_tokens FROM llmlb.calls"))


@pytest.mark.parametrize("args, message", [
    (["--tpm", "0"], "invalid --tpm '0'"),
    (["--tpm", "-5"], "invalid --tpm '-5'"),
    (["--tpm", "abc"], "invalid --tpm 'abc'"),
    (["--tpm", "nan"], "invalid --tpm 'nan'"),
    (["--tpm", "inf"], "invalid --tpm 'inf'"),
    (["--tpm", "2e9"], "invalid --tpm '2e9'"),
    (["--tpm", "0x10"], "invalid --tpm '0x10'"),
    (["--tpm", "600", "--tpm-burst", "0"], "invalid --tpm-burst '0'"),
    (["--tpm", "600", "--tpm-burst", "1.5"], "invalid --tpm-burst '1.5'"),
    (["--tpm", "600", "--bytes-per-token", "0"], "invalid --bytes-per-token '0'"),
    (["--tpm", "600", "--bytes-per-token", "65"], "invalid --bytes-per-token '65'"),
])
def test_invalid_token_limits_exit_2_and_change_nothing(migrated, args, message):
    set_limits(migrated.url, "m", 60, burst=3, max_inflight=4)
    llmlb("limits", "set", "m", "--tpm", "900", db_url=migrated.url, check=True)
    before = migrated.sql("SELECT * FROM llmlb.models")
    p = llmlb("limits", "set", "m", *args, db_url=migrated.url)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 2
    assert migrated.sql("SELECT * FROM llmlb.models") == before


def test_token_limits_set_list_and_clear(migrated):
    db = migrated
    set_limits(db.url, "plain", 60)
    p = llmlb("limits", "set", "m", "--rpm", "600", "--tpm", "6000", db_url=db.url)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(
        llmlb("limits", "list", "--json", db_url=db.url, check=True).stdout)}
    assert rows["m"]["tpm"] == 6000 and rows["m"]["tpm_burst"] is None
    # The default burst: 10 s of tpm, less 0.15 s of delivery jitter.
    assert rows["m"]["tpm_capacity"] == pytest.approx(1000 - 100 * 0.15)
    assert "tpm" not in rows["plain"]  # an rpm-only row is unchanged
    llmlb("limits", "set", "m", "--tpm-burst", "300", "--bytes-per-token", "3.5", db_url=db.url,
          check=True)
    assert db.sql("SELECT tpm, tpm_burst, bytes_per_token FROM llmlb.models WHERE name = 'm'") \
        == [(6000, 300, 3.5)]
    table = llmlb("limits", "list", db_url=db.url, check=True).stdout
    assert "TPM_BURST" in table and "6000" in table
    llmlb("limits", "set", "m", "--tpm", "none", "--tpm-burst", "default", db_url=db.url,
          check=True)
    assert db.sql("SELECT tpm, tpm_burst FROM llmlb.models WHERE name = 'm'") == [(None, None)]
    assert "TPM" not in llmlb("limits", "list", db_url=db.url, check=True).stdout


def test_check_constraints_reject_bad_token_limits_in_plain_sql(migrated):
    set_limits(migrated.url, "m", 60)
    migrated.insert_tasks(["x"])
    for bad in ("tpm = 0", "tpm = 'NaN'", "tpm_burst = 0", "bytes_per_token = 0"):
        with pytest.raises(psycopg.errors.CheckViolation):
            migrated.sql(f"UPDATE llmlb.models SET {bad} WHERE name = 'm'")
    with pytest.raises(psycopg.errors.CheckViolation):
        migrated.sql("UPDATE tasks SET max_tokens = 0")


def test_rpm_only_model_reserves_nothing_and_keeps_no_token_state(migrated):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=100)
    db.insert_tasks([f"t{i}" for i in range(5)])
    tasks, states = claim(db)
    assert len(tasks) == 5
    assert set(reserved(db).values()) == {None}
    complete(db, [{"id": t[2], "token": t[3], "model": "m0", "outcome": "ok", "answer": "a",
                   "prompt_bytes": 2, "answer_bytes": 1, "prompt_tokens": 3,
                   "completion_tokens": 4} for t in tasks])
    # Reported usage is recorded; nothing is settled and the quota has no token state.
    assert db.sql("SELECT DISTINCT prompt_tokens, completion_tokens, settled_tokens"
                  " FROM llmlb.calls") == [(3, 4, None)]
    assert db.sql("SELECT tpm_level, out_estimate FROM llmlb.quota") == [(None, None)]


def test_claim_reserves_estimates_and_stops_when_the_bucket_is_empty(migrated):
    db = migrated
    set_tpm(db.url, "m0", 6000, burst=1000)  # capacity 1000 - 100 x 0.15 = 985
    prompts = ["x" * 400] * 10  # 100 prompt tokens + 256 (nothing learned yet) = 356 each
    db.insert_tasks(prompts, model="m0")
    tasks, states = claim(db)
    assert len(tasks) == 2  # 985 // 356
    assert set(reserved(db).values()) == {356}
    assert states["m0"][0] == "rate"
    # 356 - (985 - 712) = 83 tokens short at 100 tokens/s.
    assert states["m0"][1] == pytest.approx(0.83, abs=0.05)
    assert level(db) == pytest.approx(985 - 712, abs=1)
    # max_tokens replaces the output estimate.
    db.sql("UPDATE tasks SET max_tokens = 10 WHERE lease_token IS NULL")
    tasks, _ = claim(db)
    assert len(tasks) == 2 and sorted(reserved(db).values()) == [110, 110, 356, 356]


def test_settle_returns_the_difference_and_learns_the_output_size(migrated):
    db = migrated
    set_tpm(db.url, "m0", 60, burst=2000)  # 1 token/s: the level barely refills
    db.insert_tasks(["p" * 40] * 4, model="m0")  # 10 + 256 = 266 each
    tasks, _ = claim(db)
    assert len(tasks) == 4
    before = level(db)
    ok, usage_ok, err5xx, timeout = tasks
    complete(db, [
        # Answered, no usage reported: 10 (prompt estimate) + 3 (12-byte answer).
        {"id": ok[2], "token": ok[3], "model": "m0", "outcome": "ok", "answer": "a" * 12,
         "prompt_bytes": 40, "answer_bytes": 12},
        # Answered with usage: taken as reported.
        {"id": usage_ok[2], "token": usage_ok[3], "model": "m0", "outcome": "ok", "answer": "b",
         "prompt_bytes": 40, "answer_bytes": 1, "prompt_tokens": 11, "completion_tokens": 500},
        # An HTTP error without usage: the backend refused it, nothing consumed.
        {"id": err5xx[2], "token": err5xx[3], "model": "m0", "outcome": "transient",
         "error": "HTTP 503", "http_status": 503, "prompt_bytes": 40},
        # No HTTP response (timeout): unknown, the reservation is kept.
        {"id": timeout[2], "token": timeout[3], "model": "m0", "outcome": "transient",
         "error": "timed out", "prompt_bytes": 40},
    ])
    settled = dict(db.sql("SELECT task_id, settled_tokens FROM llmlb.calls"))
    assert settled == {ok[2]: 13, usage_ok[2]: 511, err5xx[2]: 0, timeout[2]: 266}
    delta = (266 - 13) + (266 - 511) + 266 + 0
    assert level(db) == pytest.approx(before + delta, abs=3)  # + refill at 1 token/s
    # The output estimate: the first sample (3), then up to 500 at once.
    assert db.one("SELECT out_estimate FROM llmlb.quota") == 500
    # Settling twice (a retried write-back) changes nothing.
    lvl = level(db)
    complete(db, [{"id": ok[2], "token": ok[3], "model": "m0", "outcome": "ok", "answer": "x",
                   "prompt_bytes": 40, "answer_bytes": 1}])
    assert level(db) == pytest.approx(lvl, abs=2)


def test_a_call_that_never_left_returns_its_reservation(migrated):
    db = migrated
    set_tpm(db.url, "m0", 60, burst=2000)
    db.insert_tasks(["q" * 40], model="m0")
    (t,), _ = claim(db)
    before = level(db)
    complete(db, [{"id": t[2], "token": t[3], "model": "m0", "outcome": "release",
                   "error_class": "unreachable", "sent": False, "prompt_bytes": 40}])
    assert db.one("SELECT count(*) FROM llmlb.calls") == 0  # not a call
    assert level(db) == pytest.approx(before + 266, abs=2)


def test_dead_workers_reservations_are_settled_as_consumed_when_leases_expire(migrated):
    db = migrated
    set_tpm(db.url, "m0", 60, burst=2000)
    db.insert_tasks(["d" * 40] * 3, model="m0")
    tasks, _ = claim(db, lease=0.05)
    assert len(tasks) == 3
    before = level(db)
    time.sleep(0.3)
    assert db.one("SELECT llmlb.sweep()") == 3
    assert db.sql("SELECT DISTINCT outcome, settled_tokens FROM llmlb.calls") == [
        ("unknown", 266)]
    assert level(db) == pytest.approx(before, abs=1)
    # A late answer of the dead worker does not settle it again.
    t = tasks[0]
    complete(db, [{"id": t[2], "token": t[3], "model": "m0", "outcome": "ok", "answer": "a",
                   "prompt_bytes": 40, "answer_bytes": 1}])
    assert level(db) == pytest.approx(before, abs=1)
    assert db.one("SELECT settled_tokens FROM llmlb.calls WHERE task_id = %s", (t[2],)) == 266


def test_an_oversized_task_is_served_alone_when_the_bucket_is_full(migrated):
    db = migrated
    set_tpm(db.url, "m0", 600, burst=200)  # 10 tokens/s, capacity 200 - 1.5 = 198.5
    db.insert_tasks(["b" * 2000], model="m0")  # 500 + 256 tokens: over the whole bucket
    db.insert_tasks(["s" * 4] * 3, model="m0")
    db.sql("UPDATE tasks SET max_tokens = 10")  # small ones: 11 tokens; the big one: 510
    tasks, states = claim(db)
    assert [t[2] for t in tasks] == [1]  # the bucket was full: the big one goes, alone
    assert level(db) == pytest.approx(198.5 - 510, abs=1)
    tasks, states = claim(db)
    assert tasks == [] and states["m0"][0] == "rate"
    assert states["m0"][1] == pytest.approx((510 - 198.5 + 11) / 10, abs=0.3)


def test_a_big_task_does_not_block_small_ones_and_is_not_starved(migrated):
    db = migrated
    set_tpm(db.url, "m0", 6000, burst=200)  # 100 tokens/s, capacity 185: fills in 1.85 s
    db.insert_tasks(["s" * 4], model="m0")
    db.sql("UPDATE tasks SET max_tokens = 20")  # 21 tokens
    assert len(claim(db)[0]) == 1
    db.insert_tasks(["B" * 40], model="m0")  # 10 + 160 = 170: fits the bucket, not the level
    db.insert_tasks(["s" * 4] * 200, model="m0")
    db.sql("UPDATE tasks SET max_tokens = CASE WHEN prompt LIKE 'B%%' THEN 160 ELSE 20 END")
    db.sql("UPDATE llmlb.quota SET tpm_level = 0, tpm_refilled_at = clock_timestamp()")
    big = db.one("SELECT id FROM tasks WHERE prompt LIKE 'B%%'")
    small_before_big = 0
    start = time.monotonic()
    got_big_at = None
    while time.monotonic() - start < 8:
        tasks, states = claim(db, want=50)
        ids = [t[2] for t in tasks]
        if big in ids:
            got_big_at = time.monotonic() - start
            break
        small_before_big += len(ids)
        time.sleep(0.05)
    # Small ones passed it while it waited (the level never reached 170 while they took every
    # 21 tokens), and it was served within about twice the time the bucket takes to fill (the
    # hold starts after one fill time, then the bucket fills for it).
    assert small_before_big >= 5
    assert got_big_at is not None and 1.8 < got_big_at < 2 * 1.85 + 1.0


def test_status_prometheus_and_report_show_the_budget(migrated, tmp_path):
    db = migrated
    set_tpm(db.url, "m0", 6000, burst=1000)
    set_limits(db.url, "plain", 60)
    db.insert_tasks(["x" * 400] * 3, model="m0")
    tasks, _ = claim(db, models=["m0"])
    complete(db, [{"id": t[2], "token": t[3], "model": "m0", "outcome": "ok", "answer": "a",
                   "prompt_bytes": 400, "answer_bytes": 1, "prompt_tokens": 100,
                   "completion_tokens": 40} for t in tasks])
    s = json.loads(llmlb("status", "--json", db_url=db.url, check=True).stdout)
    m = {x["name"]: x for x in s["models"]}
    assert m["m0"]["tpm"] == 6000 and m["m0"]["tpm_capacity"] == pytest.approx(985)
    assert m["m0"]["output_token_estimate"] == 40
    assert m["m0"]["tokens_last_window"] == 140 * len(tasks)
    assert 0 < m["m0"]["tpm_level"] <= 985
    assert m["plain"]["tpm"] is None and m["plain"]["tpm_level"] is None
    table = llmlb("status", db_url=db.url, check=True).stdout
    assert "OUT EST" in table
    prom = llmlb("status", "--format", "prometheus", db_url=db.url, check=True).stdout
    assert 'llmlb_model_limit_tpm{model="m0"} 6000' in prom
    assert 'llmlb_model_output_token_estimate{model="m0"} 40' in prom
    assert 'llmlb_model_limit_tpm{model="plain"}' not in prom
    out = tmp_path / "r.html"
    llmlb("report", "--since", "10m", "--output", out, db_url=db.url, check=True)
    html = out.read_text()
    assert "Estimator error" in html
    reserved_total = sum(reserved(db).values())
    assert f"<td>{reserved_total}</td><td>{140 * len(tasks)}</td>" in html
