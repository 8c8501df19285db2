"""Issue 15: a worker that must stop at a known time claims a model's task only while its call is
expected to finish before the drain ends, using the model's p95 latency from the call log."""
from __future__ import annotations

import json

from .conftest import llmlb, set_limits

MODELS = json.dumps({"models": {"fast": {"median": 0.1, "sigma": 0},
                                "slow": {"median": 2.0, "sigma": 0}}})


def test_slow_models_stop_being_claimed_before_the_deadline_fast_ones_go_on(migrated,
                                                                           backend_factory):
    db = migrated
    backend = backend_factory(models=MODELS, time_scale=1, min_latency=0.05)
    set_limits(db.url, "fast", 6000, burst=100, max_inflight=5)
    set_limits(db.url, "slow", 600, burst=1, max_inflight=100)  # rate-bound: a claim every 0.1 s
    # History: every worker reads each model's p95 latency from llmlb.calls.
    db.insert_tasks([f"warm {i}" for i in range(10)], model="fast")
    db.insert_tasks([f"warm {i}" for i in range(10)], model="slow")
    llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url, check=True,
          timeout=60)
    db.insert_tasks([f"f {i}" for i in range(3000)], model="fast")
    db.insert_tasks([f"s {i}" for i in range(400)], model="slow")

    # Calls must end by 4 s + 1 s of drain: slow ones (2 s) are claimed only in the first ~3 s.
    p = llmlb("work", "--backend-url", backend.url, "--max-runtime", "4s", "--drain-timeout",
              "1s", "--log-format", "json", db_url=db.url, timeout=60)
    assert p.returncode == 0, p.stderr
    summary = [json.loads(line) for line in p.stderr.splitlines() if '"summary"' in line][-1]
    assert summary.get("abandoned") == 0, p.stderr
    worker = db.one("SELECT worker FROM llmlb.calls WHERE task_id IN"
                    " (SELECT id FROM tasks WHERE prompt = 'f 0')")
    rows = db.sql("SELECT model, extract(epoch FROM sent_at - min(sent_at) OVER ()), outcome"
                  " FROM llmlb.calls WHERE worker = %s", (worker,))
    slow = [t for m, t, _ in rows if m == "slow"]
    fast = [t for m, t, _ in rows if m == "fast"]
    assert slow and max(slow) <= 3.0 + 0.5, sorted(slow)[-5:]
    assert max(fast) > 3.6, max(fast)  # fast calls go on to the end of the runtime
    assert not [o for _, _, o in rows if o == "abandoned"]
