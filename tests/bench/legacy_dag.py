"""Emulation of today's design (the "legacy DAG"), for the benchmarks.

One DAG run (a "cycle"):
1. fetch every unsolved task (``SELECT id, prompt, model FROM tasks WHERE status = 'unsolved'
   ORDER BY id``);
2. split the list into ``workers`` (20) equal contiguous parts (numpy.array_split style: the
   first ``len % workers`` parts get one task more);
3. ``workers`` threads run at once; each walks its part in batches of ``batch_size`` (10): one
   ``POST /batch`` naming each item's model (the task's ``model`` column, i.e. pinned), waits for
   the whole batch (the backend answers when its slowest item is done), then writes the answers
   (one ``UPDATE tasks ... FROM (VALUES ...)``), and repeats;
4. each worker has a timeout (30 minutes, times the time scale) counted from the start of the
   cycle: when it fires, the batch in flight is abandoned (its answers are never written) and
   the worker's remaining tasks are left for later;
5. the cycle ends when all workers have ended; the next DAG run starts ``restart_gap`` seconds
   (times the time scale) later, until a fetch finds nothing left and no more tasks are expected.

Every batch is recorded (cycle, worker, send and reply time, ids, outcome) for the analysis.
Standard library + psycopg only. Run alone::

    .venv/bin/python -m tests.bench.legacy_dag --db URL --backend-url URL --time-scale 0.075
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import psycopg

TIMEOUT_S = 30 * 60  # today's worker timeout (unscaled)
RESTART_GAP_S = 60  # scheduler + DAG start until the next run's workers send (unscaled)


@dataclass
class Batch:
    cycle: int
    worker: int
    ids: list[int]
    models: list[str]
    sent: float  # time.time() just before the request
    done: float | None = None  # reply received (or timeout / error)
    outcome: str = "pending"  # ok | timeout_lost | error
    written: float | None = None


@dataclass
class Cycle:
    number: int
    start: float
    fetched: int
    end: float | None = None
    worker_ends: list[float] = field(default_factory=list)
    timed_out_workers: int = 0
    solved: int = 0
    lost_in_flight: int = 0  # tasks whose batch was in flight at the timeout
    left_unsent: int = 0  # tasks of timed-out workers never sent in this cycle


def split_equal(items: list, parts: int) -> list[list]:
    """numpy.array_split semantics on a list: ``parts`` contiguous chunks, sizes differ by <= 1."""
    q, r = divmod(len(items), parts)
    out, start = [], 0
    for k in range(parts):
        size = q + (1 if k < r else 0)
        out.append(items[start:start + size])
        start += size
    return out


class LegacyDag:
    def __init__(self, db_url: str, backend_url: str, *, time_scale: float, workers: int = 20,
                 batch_size: int = 10, timeout_s: float = TIMEOUT_S,
                 restart_gap_s: float = RESTART_GAP_S, batch_path: str = "/batch"):
        self.db_url, self.backend_url = db_url, backend_url
        u = urlsplit(backend_url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the benchmark only talks to loopback backends")
        self.host, self.port = u.hostname, u.port or 80
        self.scale = time_scale
        self.workers, self.batch_size = workers, batch_size
        self.timeout = timeout_s * time_scale
        self.gap = restart_gap_s * time_scale
        self.batch_path = batch_path
        self.batches: list[Batch] = []
        self.cycles: list[Cycle] = []
        self._lock = threading.Lock()

    # ---- one worker ----------------------------------------------------------------------
    def _worker(self, cycle: Cycle, k: int, tasks: list[tuple], deadline: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port)
        db = psycopg.connect(self.db_url, autocommit=True)
        try:
            for i in range(0, len(tasks), self.batch_size):
                chunk = tasks[i:i + self.batch_size]
                now = time.time()
                if now >= deadline:
                    cycle.left_unsent += len(tasks) - i
                    with self._lock:
                        cycle.timed_out_workers += 1
                    break
                b = Batch(cycle.number, k, [t[0] for t in chunk], [t[2] for t in chunk], now)
                with self._lock:
                    self.batches.append(b)
                body = json.dumps({"requests": [{"model": t[2], "prompt": t[1]}
                                                for t in chunk]}).encode()
                try:
                    conn.timeout = max(0.001, deadline - now)
                    if conn.sock is not None:
                        conn.sock.settimeout(conn.timeout)
                    conn.request("POST", self.batch_path, body,
                                 {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    raw = resp.read()
                    status = resp.status
                except (socket.timeout, TimeoutError):
                    # The worker is killed at its timeout: the batch in flight is lost.
                    b.done, b.outcome = time.time(), "timeout_lost"
                    with self._lock:
                        cycle.lost_in_flight += len(chunk)
                        cycle.left_unsent += len(tasks) - i - len(chunk)
                        cycle.timed_out_workers += 1
                    conn.close()
                    break
                except (OSError, http.client.HTTPException):
                    b.done, b.outcome = time.time(), "error"
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port)
                    continue
                b.done = time.time()
                if status != 200:
                    b.outcome = f"http_{status}"
                    continue
                results = json.loads(raw)["results"]
                rows = [(t[0], r["answer"], t[2]) for t, r in zip(chunk, results)
                        if isinstance(r, dict) and isinstance(r.get("answer"), str)]
                if time.time() >= deadline:  # killed before it could write
                    b.outcome = "timeout_lost"
                    with self._lock:
                        cycle.lost_in_flight += len(chunk)
                        cycle.left_unsent += len(tasks) - i - len(chunk)
                        cycle.timed_out_workers += 1
                    break
                with db.cursor() as cur:
                    cur.execute(
                        "UPDATE public.tasks t SET status = 'solved', answer = v.answer,"
                        " answered_by = v.model, solved_at = clock_timestamp()"
                        " FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS answer,"
                        " unnest(%s::text[]) AS model) v WHERE t.id = v.id",
                        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))
                b.written, b.outcome = time.time(), "ok"
                with self._lock:
                    cycle.solved += len(rows)
        finally:
            conn.close()
            db.close()
            with self._lock:
                cycle.worker_ends.append(time.time())

    # ---- the DAG -------------------------------------------------------------------------
    def run_cycle(self, number: int) -> Cycle:
        start = time.time()
        with psycopg.connect(self.db_url) as db:
            tasks = db.execute("SELECT id, prompt, model FROM public.tasks"
                               " WHERE status = 'unsolved' ORDER BY id").fetchall()
        cycle = Cycle(number, start, len(tasks))
        self.cycles.append(cycle)
        if tasks:
            deadline = start + self.timeout
            threads = [threading.Thread(target=self._worker, args=(cycle, k, part, deadline),
                                        daemon=True)
                       for k, part in enumerate(split_equal(tasks, self.workers))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        cycle.end = time.time()
        return cycle

    def unsolved(self) -> int:
        with psycopg.connect(self.db_url) as db:
            return db.execute("SELECT count(*) FROM public.tasks"
                              " WHERE status = 'unsolved'").fetchone()[0]

    def run(self, more_expected=lambda: False, max_cycles: int = 1000,
            log=lambda msg: None) -> float:
        """Runs cycles (a gap between two) until nothing is unsolved and ``more_expected()`` is
        false; returns the end time of the last cycle that did work."""
        last_work_end = time.time()
        for n in range(1, max_cycles + 1):
            c = self.run_cycle(n)
            if c.fetched:
                last_work_end = c.end
            log(f"legacy cycle {n}: fetched {c.fetched}, solved {c.solved}, timed-out workers "
                f"{c.timed_out_workers}, lost in flight {c.lost_in_flight}, "
                f"{c.end - c.start:.1f}s")
            if not more_expected() and self.unsolved() == 0:
                break
            time.sleep(self.gap)
        return last_work_end

    def summary(self) -> dict:
        return {"cycles": [asdict(c) for c in self.cycles],
                "batches": [asdict(b) for b in self.batches],
                "timeout_s": self.timeout, "restart_gap_s": self.gap,
                "workers": self.workers, "batch_size": self.batch_size}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--backend-url", required=True)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--timeout", type=float, default=TIMEOUT_S, help="unscaled seconds")
    p.add_argument("--restart-gap", type=float, default=RESTART_GAP_S, help="unscaled seconds")
    a = p.parse_args()
    dag = LegacyDag(a.db, a.backend_url, time_scale=a.time_scale, workers=a.workers,
                    batch_size=a.batch_size, timeout_s=a.timeout, restart_gap_s=a.restart_gap)
    t0 = time.time()
    end = dag.run(log=print)
    print(f"done: {end - t0:.1f}s, {len(dag.cycles)} cycle(s)")


if __name__ == "__main__":
    main()
