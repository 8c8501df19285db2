"""llmlb through PgBouncer in session mode: the set-up docs/operations.md recommends for
workers whose start-up must not pay a TLS and SCRAM handshake with the server each time."""
from __future__ import annotations

import pytest

from tests.pgutil import PGBOUNCER, running_pgbouncer

from .conftest import ADMIN_URL, assert_all_answers_match, llmlb, set_limits, start_llmlb

pytestmark = pytest.mark.skipif(not PGBOUNCER.exists(),
                                reason="needs PgBouncer (apt-get install pgbouncer)")


@pytest.fixture
def pooled(migrated):
    """(database, URL of the same database through a session-mode PgBouncer)."""
    with running_pgbouncer(ADMIN_URL) as (host, port, _):
        name = migrated.one("SELECT current_database()")
        yield migrated, f"postgresql://llmlb:llmlb@{host}:{port}/{name}"


def test_short_invocations_and_parallel_workers_through_pgbouncer(pooled, backend_factory,
                                                                  tmp_path):
    db, url = pooled
    set_limits(db.url, "m0", 6000, burst=20, max_inflight=20)
    set_limits(db.url, "m1", 6000, burst=20, max_inflight=20)
    backend = backend_factory(time_scale=0.005, seed=3, models={"models": ["m0", "m1"]})
    db.insert_tasks([f"pooled {i}" for i in range(40)], model="m0")
    db.insert_tasks([f"pooled {i}" for i in range(40, 80)])
    # One invocation after another: each gets the server connection the previous one left in
    # the pool, so its prepared statements must not clash with the previous client's.
    for i in range(5):
        p = llmlb("work", "--backend-url", backend.url, "--max-tasks", "4", "--until-empty",
                  db_url=url)
        assert p.returncode == 0, p.stderr
        assert "claimed=4 solved=4" in p.stderr, p.stderr
    # The server session outlived its clients: the pool kept it.
    name = db.one("SELECT current_database()")
    assert db.one("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                  "AND usename = 'llmlb' AND pid <> pg_backend_pid() "
                  "AND application_name = ''", (name,)) >= 1
    # Then three at once on the rest.
    procs = [start_llmlb("work", "--backend-url", backend.url, "--until-empty",
                         "--max-inflight-total", "8", db_url=url, log=tmp_path / f"w{i}.log")
             for i in range(3)]
    codes = [p.wait(timeout=120) for p in procs]
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(3))
    assert codes == [0, 0, 0], logs
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 80
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE outcome = 'ok'") == 80
    assert len([a for a in backend.arrivals() if a["outcome"] == "ok"]) == 80
    assert_all_answers_match(db)
    # status and limits work through the pool as well.
    assert "m0" in llmlb("status", db_url=url, check=True).stdout
    llmlb("limits", "set", "m1", "--rpm", "60", db_url=url, check=True)
    assert db.one("SELECT rpm FROM llmlb.models WHERE name = 'm1'") == 60
