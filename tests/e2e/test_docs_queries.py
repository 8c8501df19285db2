"""The SQL of docs/bottlenecks.md, "Measuring the inputs on your system", runs as printed against
a migrated database and gives the right figures for a known call log and task table."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from .conftest import ROOT

# The section's heading, whatever its number.
SECTION = re.compile(r"^## (?:\d+\. )?Measuring the inputs on your system$", re.M)


def doc_queries() -> list[str]:
    doc = (ROOT / "docs" / "bottlenecks.md").read_text()
    found = SECTION.search(doc)
    assert found, "docs/bottlenecks.md lost its section 'Measuring the inputs on your system'"
    section = doc[found.end():].split("\n## ", 1)[0]
    assert "<!-- docs-queries" in section
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def run(db, query: str) -> tuple[list[str], list[tuple]]:
    with db.conn.cursor() as cur:
        cur.execute(query)
        return [c.name for c in cur.description], cur.fetchall()


def add_call(db, model, task_id, outcome, latency_ms=None, error_class=None, http_status=None,
             age=timedelta(hours=1)):
    finished = None if outcome == "sent" else "now() - %(age)s + interval '1 second'"
    db.sql("INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, finished_at,"
           " latency_ms, outcome, error_class, http_status)"
           " VALUES (%(model)s, %(task)s, 'w1', 'single', now() - %(age)s, "
           + (finished or "NULL") + ", %(lat)s, %(outcome)s, %(ec)s, %(hs)s)",
           {"model": model, "task": task_id, "age": age, "lat": latency_ms, "outcome": outcome,
            "ec": error_class, "hs": http_status})


def add_tasks(db, prompts, model=None) -> list[int]:
    return [db.one("INSERT INTO tasks (prompt, model) VALUES (%s, %s) RETURNING id", (p, model))
            for p in prompts]


@pytest.fixture
def populated(migrated):
    db = migrated
    ids = add_tasks(db, ["a", "b"], model="m0") + add_tasks(db, ["c"])
    ids += add_tasks(db, ["d"], model="m1")
    db.sql("UPDATE tasks SET status = 'solved', answer = 'x', answered_by = 'm1',"
           " solved_at = now() WHERE id = %s", (ids[3],))
    # Two tasks 5 hours old, one 3 days old (outside the 24 hours of the arrival query).
    old = add_tasks(db, ["e", "f", "g"], model="m1")
    db.sql("UPDATE tasks SET created_at = now() - interval '5 hours' WHERE id = ANY(%s)",
           (old[:2],))
    db.sql("UPDATE tasks SET created_at = now() - interval '3 days', status = 'solved',"
           " answer = 'x', answered_by = 'm1', solved_at = now() WHERE id = %s", (old[2],))
    t = ids[0]
    for ms in (100, 200, 300, 400, 500):
        add_call(db, "m0", t, "ok", ms, "ok", 200)
    add_call(db, "m0", t, "transient", 30000, "timeout", 0)
    add_call(db, "m0", t, "transient", 50, "http_429", 429)
    add_call(db, "m0", t, "sent")                                    # in flight: left out
    add_call(db, "m0", t, "ok", 99999, "ok", 200, age=timedelta(days=2))   # too old
    add_call(db, "m1", ids[3], "ok", 1000, "ok", 200)
    return db


def test_the_doc_has_the_four_queries():
    assert len(doc_queries()) == 4


def test_doc_queries_give_the_figures_of_a_known_database(populated):
    seen = set()
    for query in doc_queries():
        cols, rows = run(populated, query)
        if "p95_ms" in cols:
            seen.add("latency")
            assert cols == ["model", "calls", "p50_ms", "p95_ms"]
            assert [(m, n, float(p50), float(p95)) for m, n, p50, p95 in rows] == [
                ("m0", 5, 300.0, 480.0), ("m1", 1, 1000.0, 1000.0)]
        elif "timeouts" in cols:
            seen.add("errors")
            got = {r[0]: dict(zip(cols[1:], r[1:])) for r in rows}
            assert set(got) == {"m0", "m1"}
            m0 = got["m0"]
            assert (m0["calls"], m0["timeouts"], m0["http_429"]) == (7, 1, 1)
            assert float(m0["timeout_pct"]) == pytest.approx(14.29)
            assert float(m0["http_429_pct"]) == pytest.approx(14.29)
            assert (got["m1"]["calls"], got["m1"]["timeouts"], got["m1"]["http_429"]) == (1, 0, 0)
        elif "tasks_per_s" in cols:
            seen.add("arrivals")
            assert cols == ["hour", "tasks", "tasks_per_s"]
            assert sum(r[1] for r in rows) == 6          # the 3-day-old task is left out
            assert [r[0] for r in rows] == sorted(r[0] for r in rows)
            assert all(float(r[2]) == pytest.approx(r[1] / 3600, abs=1e-3) for r in rows)
        elif "unsolved" in cols:
            seen.add("backlog")
            assert cols == ["model", "unsolved", "oldest", "oldest_age"]
            assert [(r[0], r[1]) for r in rows] == [("(any)", 1), ("m0", 2), ("m1", 2)]
            m1 = next(r for r in rows if r[0] == "m1")
            assert m1[3] >= timedelta(hours=5)
        else:
            pytest.fail(f"a query of the section this test does not know: {cols}")
    assert seen == {"latency", "errors", "arrivals", "backlog"}


def test_doc_queries_run_on_an_empty_database(migrated):
    for query in doc_queries():
        _, rows = run(migrated, query)
        assert rows == []
