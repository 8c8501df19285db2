"""Issue 4: every task ends solved with its own answer, or failed with a reason, whatever the
backend, the processes or the database do."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.pgutil import free_port
from tests.sim_backend.answers import answer_for

from .conftest import (assert_all_answers_match, llmlb, max_in_window, set_limits, start_llmlb,
                       stop, wait_until)

FAST = ["--backoff-base", "50ms", "--backoff-max", "500ms"]


def assert_settled(db, allow_failed=False):
    """Nothing leased, nothing unsolved; failures (if allowed) carry a reason."""
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'unsolved'") == 0
    if not allow_failed:
        assert db.one("SELECT count(*) FROM tasks WHERE status = 'failed'") == 0
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'failed' AND"
                  " coalesce(last_error, '') = ''") == 0
    assert_all_answers_match(db)


def test_transient_faults_are_retried_until_solved(migrated, backend_factory, tmp_path):
    db = migrated
    for m in ("m0", "m1", "m2"):
        set_limits(db.url, m, 3000, burst=10, max_inflight=20)
    backend = backend_factory(time_scale=0.002, seed=11, fault_5xx=0.1, fault_429=0.05,
                              fault_garbage=0.1, fault_drop=0.05, fault_hang=0.03, retry_after=1,
                              models={"models": ["m0", "m1", "m2"]})
    db.insert_tasks([f"task {i}" for i in range(200)])
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                         "--request-timeout", "1s", "--max-attempts", "15", *FAST,
                         db_url=db.url, log=tmp_path / f"w{i}.log") for i in range(2)]
    codes = [p.wait(timeout=180) for p in procs]
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(2))
    assert codes == [0, 0], logs
    assert_settled(db)
    outcomes = {a["outcome"] for a in backend.arrivals()}
    assert {"5xx", "429", "garbage", "drop", "hang", "ok"} <= outcomes
    errors = {r[0] for r in db.sql("SELECT error_class FROM llmlb.calls WHERE outcome ="
                                   " 'transient'")}
    assert {"http_5xx", "http_429", "bad_body", "timeout"} <= errors, errors
    assert db.one("SELECT count(*) FROM tasks WHERE attempts > 1") > 0


def test_permanent_errors_fail_with_a_reason_and_are_not_retried(migrated, backend_factory):
    # A 400 (here: a request without the backend's prompt field) belongs to the task. A 404
    # (unknown model) belongs to the model: see test_backend_model_failures.py.
    db = migrated
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=10)
    backend = backend_factory(time_scale=0.001)
    db.insert_tasks(["doomed"], model="m0")
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--prompt-field", "input",
              *FAST, db_url=db.url)
    assert p.returncode == 0, p.stderr
    row = db.sql("SELECT status, attempts, last_error FROM tasks WHERE prompt = 'doomed'")[0]
    assert row[0] == "failed" and row[1] == 1 and "400" in row[2]
    assert_settled(db, allow_failed=True)


def test_attempts_run_out_into_failed_with_the_last_error(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=10)
    backend = backend_factory(time_scale=0.001, fault_5xx=1.0)
    db.insert_tasks(["always 5xx"])
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--max-attempts", "3",
              *FAST, db_url=db.url)
    assert p.returncode == 0, p.stderr
    status, attempts, error = db.sql("SELECT status, attempts, last_error FROM tasks")[0]
    assert (status, attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in error and "HTTP 5" in error


def test_429_cooldown_is_shared_and_honours_retry_after(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=20, max_inflight=20)
    backend = backend_factory(time_scale=0.002, retry_after=2,
                              models={"models": {"m0": {"faults": {"429": 1.0}}}})
    db.insert_tasks([f"t{i}" for i in range(100)])
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty", "--max-attempts",
                         "20", *FAST, db_url=db.url, log=tmp_path / f"w{i}.log")
             for i in range(3)]
    assert wait_until(lambda: any(a["outcome"] == "429" for a in backend.arrivals()), 10)
    time.sleep(0.5)
    backend.set_config({"models": {"m0": {"faults": None}}})
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0, 0]
    assert_settled(db)
    arrivals = sorted(backend.arrivals(), key=lambda a: a["ts"])
    first_429 = next(a["ts"] for a in arrivals if a["outcome"] == "429")
    # Requests already on the wire may land just after the first 429; after that, no process
    # sends anything to m0 until Retry-After (2 s) has passed.
    quiet = [a for a in arrivals if first_429 + 0.3 < a["ts"] < first_429 + 1.9]
    assert quiet == [], quiet[:3]
    assert db.one("SELECT rate_limited_total FROM llmlb.quota q JOIN llmlb.models m ON"
                  " m.id = q.model_id WHERE m.name = 'm0'") > 0


def test_kill_9_loses_nothing(migrated, backend_factory, tmp_path):
    db = migrated
    for m in ("m0", "m1"):
        set_limits(db.url, m, 6000, burst=20, max_inflight=30)
    backend = backend_factory(time_scale=0.05, seed=3, models={"models": ["m0", "m1"]})
    db.insert_tasks([f"task {i}" for i in range(150)])
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty", "--lease", "2s",
                         db_url=db.url, log=tmp_path / f"w{i}.log") for i in range(3)]
    victim = procs[0]
    assert wait_until(lambda: db.one("SELECT count(*) FROM tasks WHERE lease_owner LIKE %s",
                                      (f"%:{victim.pid}:%",)) > 0, 10)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    held = db.one("SELECT count(*) FROM tasks WHERE lease_owner LIKE %s", (f"%:{victim.pid}:%",))
    codes = [p.wait(timeout=120) for p in procs[1:]]
    assert codes == [0, 0]
    assert_settled(db)
    assert held >= 0
    # Reclaiming a dead worker's lease costs no attempt.
    assert db.one("SELECT max(attempts) FROM tasks") == 1


def test_late_write_from_a_lost_lease_changes_nothing(migrated):
    db = migrated
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=10)
    db.insert_tasks(["contested"])
    first = db.sql("SELECT task_id, lease_token FROM llmlb.claim('dead', 1, NULL, 0.05)"
                   " WHERE kind = 'task'")[0]
    time.sleep(0.35)  # past the lease, and past the 250 ms between sweeps
    second = db.sql("SELECT task_id, lease_token FROM llmlb.claim('alive', 1, NULL, 30)"
                    " WHERE kind = 'task'")[0]
    assert second[0] == first[0] and second[1] != first[1]
    late = ('[{"id": %d, "token": %d, "model": "m0", "outcome": "ok", "answer": "stale"}]'
            % first)
    assert db.sql("SELECT lost FROM llmlb.complete('dead', %s, 5)", (late,)) == [(1,)]
    fresh = ('[{"id": %d, "token": %d, "model": "m0", "outcome": "ok", "answer": "fresh"}]'
             % second)
    assert db.sql("SELECT solved FROM llmlb.complete('alive', %s, 5)", (fresh,)) == [(1,)]
    assert db.sql("SELECT answer, attempts FROM tasks") == [("fresh", 1)]


def test_sigterm_drains_then_releases_everything(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 600, burst=100, max_inflight=100)
    backend = backend_factory(time_scale=1.0, models={"default": {"median": 20, "sigma": 0.1},
                                                      "models": ["m0"]})
    db.insert_tasks([f"t{i}" for i in range(30)])
    p = start_llmlb("work", "--backend-url", backend.url, "--term-grace", "1s", db_url=db.url,
                    log=tmp_path / "w.log")
    assert wait_until(lambda: db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL")
                      == 30, 10)
    t0 = time.monotonic()
    code = stop(p, signal.SIGTERM)
    assert code == 0, (tmp_path / "w.log").read_text()
    assert time.monotonic() - t0 < 3
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'unsolved' AND attempts = 0") == 30
    # The released work is claimable at once by the next process.
    rows = db.sql("SELECT count(*) FROM llmlb.claim('next', 100, NULL, 30) WHERE kind = 'task'")
    assert rows == [(30,)]


def test_second_signal_exits_at_once(migrated, backend_factory, tmp_path):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=100)
    backend = backend_factory(time_scale=1.0, models={"default": {"median": 20, "sigma": 0.1},
                                                      "models": ["m0"]})
    db.insert_tasks([f"t{i}" for i in range(10)])
    p = start_llmlb("work", "--backend-url", backend.url, "--term-grace", "60s", db_url=db.url,
                    log=tmp_path / "w.log")
    assert wait_until(lambda: db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL")
                      == 10, 10)
    os.kill(p.pid, signal.SIGTERM)
    time.sleep(0.3)
    t0 = time.monotonic()
    code = stop(p, signal.SIGINT, timeout=10)
    assert code == 128 + signal.SIGINT
    assert time.monotonic() - t0 < 2
    assert db.one("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL") == 0


def test_bad_prompts_fail_without_being_sent_and_odd_ones_round_trip(migrated, backend_factory):
    db = migrated
    set_limits(db.url, "m0", 60000, burst=100, max_inflight=50)
    backend = backend_factory(time_scale=0.001)
    odd = ['"quotes" and \\backslashes\\', "emoji 😀🚀 and ünïcödé", "ctrl \x01\x02\x1f\x7f",
           "newline\nand\ttab", "x" * (1 << 20)]
    db.insert_tasks(odd)
    db.insert_tasks(["", "   \n\t "])
    db.insert_tasks(["y" * 5000])
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--max-prompt-bytes",
              "4096", db_url=db.url)
    assert p.returncode == 0, p.stderr
    failed = dict(db.sql("SELECT prompt, last_error FROM tasks WHERE status = 'failed'"))
    assert set(failed) == {"", "   \n\t ", "y" * 5000, "x" * (1 << 20)}
    assert "empty" in failed[""] and "--max-prompt-bytes" in failed["y" * 5000]
    assert db.one("SELECT count(*) FROM llmlb.calls") == 4  # the failed ones were never sent
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url)
    db.sql("UPDATE tasks SET status = 'unsolved', attempts = 0 WHERE prompt = %s", ("x" * (1 << 20),))
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url)
    assert p.returncode == 0, p.stderr
    for prompt in odd:
        answer = db.one("SELECT answer FROM tasks WHERE prompt = %s", (prompt,))
        assert answer == answer_for("m0", prompt)


# ---- a PostgreSQL restart, on a private server so other tests are not disturbed ------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def private_pg():
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        pytest.skip("needs root (to run a private PostgreSQL as user postgres) and PostgreSQL 15")
    d = Path(tempfile.mkdtemp(prefix="llmlb-pg-"))
    shutil.chown(d, "postgres")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, PG_BIN / "initdb", "-D", d / "data", "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)

    def ctl(*args):
        return subprocess.run([*as_pg, PG_BIN / "pg_ctl", "-D", d / "data", "-l", d / "log",
                               "-w", *args], capture_output=True, text=True)

    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1"
    assert ctl("-o", opts, "start").returncode == 0
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", ctl, opts
    finally:
        ctl("-m", "immediate", "stop")
        shutil.rmtree(d, ignore_errors=True)


def test_postgres_restart_mid_run_loses_no_answer(private_pg, backend_factory, tmp_path):
    from .conftest import Database
    url, ctl, opts = private_pg
    llmlb("migrate", db_url=url, check=True)
    set_limits(url, "m0", 6000, burst=30, max_inflight=40)
    backend = backend_factory(time_scale=0.05, seed=5, models={"models": ["m0"]})
    db = Database(url)
    db.insert_tasks([f"task {i}" for i in range(150)])
    db.close()
    p = start_llmlb("work", "--backend-url", backend.url, "--until-empty", "--db-retry-timeout",
                    "60s", db_url=url, log=tmp_path / "w.log")
    time.sleep(1.5)
    assert ctl("-m", "fast", "stop").returncode == 0
    time.sleep(2.0)  # answers keep arriving while the database is down
    assert ctl("-o", opts, "start").returncode == 0
    code = p.wait(timeout=120)
    log = (tmp_path / "w.log").read_text()
    assert code == 0, log
    assert "lost the database" in log and "reconnected" in log
    db = Database(url)
    try:
        assert_settled(db)
    finally:
        db.close()


def test_database_gone_for_good_exits_1_and_counts_unwritten(private_pg, backend_factory,
                                                            tmp_path):
    from .conftest import Database
    url, ctl, opts = private_pg
    llmlb("migrate", db_url=url, check=True)
    set_limits(url, "m0", 6000, burst=30, max_inflight=40)
    backend = backend_factory(time_scale=0.2, seed=5, models={"models": ["m0"]})
    db = Database(url)
    db.insert_tasks([f"task {i}" for i in range(30)])
    db.close()
    p = start_llmlb("work", "--backend-url", backend.url, "--until-empty", "--db-retry-timeout",
                    "2s", db_url=url, log=tmp_path / "w.log")
    time.sleep(1.0)
    assert ctl("-m", "immediate", "stop").returncode == 0
    code = p.wait(timeout=60)
    log = (tmp_path / "w.log").read_text()
    assert code == 1, log
    assert "could not be written" in log
