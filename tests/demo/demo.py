"""The README's demo: a backlog solved on a local PostgreSQL through the simulated backend.

Creates a fresh database `llmlb_demo`, migrates it, configures ten models with different limits,
enqueues 600 tasks (some pinned to a model), runs three `llmlb work --until-empty` processes at
once, and prints a short summary: what was solved, how long it took, and each model's busiest
second against its limit (from llmlb's own call log, in SQL).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.pgutil import drop_database  # noqa: E402
from tests.sim_backend.answers import answer_for  # noqa: E402
from tests.sim_backend.harness import running_backend  # noqa: E402

BIN = os.environ.get("LLMLB_BIN", str(ROOT / "build" / "cli" / "llmlb"))
ADMIN = os.environ.get("LLMLB_TEST_PG", "postgresql://llmlb:llmlb@127.0.0.1:5432/llmlb")
DEMO_DB = "llmlb_demo"
URL = ADMIN.rsplit("/", 1)[0] + "/" + DEMO_DB
# name: rpm, burst, max in flight
LIMITS = {f"m{i}": (rpm, burst, inflight) for i, (rpm, burst, inflight) in enumerate(
    [(1200, 5, 10), (900, 4, 8), (600, 3, 6), (1500, 5, 12), (300, 2, 4),
     (1800, 6, 14), (450, 2, 5), (720, 3, 6), (2400, 8, 16), (360, 2, 4)])}


def llmlb(*args, stdin=None):
    env = dict(os.environ, LLMLB_DATABASE_URL=URL)
    return subprocess.run([BIN, *map(str, args)], env=env, input=stdin, text=True, check=True,
                          capture_output=True).stdout


def main() -> int:
    drop_database(ADMIN, DEMO_DB)
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DEMO_DB}")
    print(llmlb("migrate").strip())
    for i, (model, (rpm, burst, inflight)) in enumerate(LIMITS.items()):
        llmlb("limits", "set", model, "--rpm", rpm, "--burst", burst, "--max-inflight", inflight,
              "--preference", i)
    print(llmlb("limits", "list"), end="")
    lines = [json.dumps({"prompt": f"Summarise ticket #{i}: the printer on floor {i % 7} "
                                   f"says 'PC LOAD LETTER' 🖨️"}) for i in range(540)]
    lines += [json.dumps({"prompt": f"Translate note {i} to French", "model": "m4"})
              for i in range(60)]
    print(llmlb("enqueue", "-", stdin="\n".join(lines) + "\n").strip())

    # Latencies of 1 s to 2 min, scaled by 0.02: 20 ms to 2.4 s per call.
    with running_backend(time_scale=0.02, seed=42) as backend:
        print(f"simulated backend at {backend.url}; starting 3 workers")
        env = dict(os.environ, LLMLB_DATABASE_URL=URL)
        t0 = time.monotonic()
        workers = [subprocess.Popen([BIN, "work", "--backend-url", backend.url, "--until-empty",
                                     "--progress-interval", "3s", "--no-live"], env=env)
                   for _ in range(3)]
        codes = [w.wait() for w in workers]
        elapsed = time.monotonic() - t0
    if any(codes):
        print(f"demo: a worker failed: exit codes {codes}", file=sys.stderr)
        return 1

    with psycopg.connect(URL) as c:
        status = dict(c.execute("SELECT status, count(*) FROM tasks GROUP BY 1").fetchall())
        rows = c.execute("SELECT prompt, answer, answered_by FROM tasks WHERE status = 'solved'"
                         ).fetchall()
        wrong = sum(1 for p, a, m in rows if a != answer_for(m, p))
        pinned_ok = c.execute("SELECT bool_and(answered_by = 'm4') FROM tasks WHERE model = 'm4'"
                              ).fetchone()[0]
        print(f"\nsolved {status.get('solved', 0)} of {sum(status.values())} tasks in "
              f"{elapsed:.1f}s with 3 workers; wrong answers: {wrong}; pinned tasks on their "
              f"model: {'yes' if pinned_ok else 'NO'}")
        print(f"{'model':<6} {'calls':>6} {'limit/s':>8} {'busiest 1s':>11} {'allowed':>8}")
        for model, (rpm, burst, _) in LIMITS.items():
            calls = c.execute("SELECT count(*) FROM llmlb.calls WHERE model = %s",
                              (model,)).fetchone()[0]
            worst = c.execute("SELECT llmlb.max_calls_in_window(%s, '999 milliseconds',"
                              " '-infinity')", (model,)).fetchone()[0]
            print(f"{model:<6} {calls:>6} {rpm / 60:>8.1f} {worst:>11} {rpm / 60 + burst:>8.1f}")
    ok = status.get("solved", 0) == sum(status.values()) and wrong == 0 and pinned_ok
    print("\ndemo: OK" if ok else "\ndemo: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
