"""Arrival log: one record per request (per item for /batch), kept in memory and in a file.

Record (a JSON object; also one line of the ``--arrival-log`` JSON Lines file)::

    {"ts": 1732830000.123456,   # time.time() when the request's headers arrived (before any wait)
     "endpoint": "single",      # "single" | "batch"
     "model": "m3",             # null when the body was unreadable (outcome "400")
     "outcome": "ok",           # ok | 5xx | 429 | garbage | drop | hang | 404 | 400 | quota429
     "latency": 0.0421,         # seconds the server waited before replying (batch: the max)
     "req": 17,                 # request number in this process (batch items share it)
     "item": 0, "n": 3,         # batch only: index of the item, number of items
     "item_latency": 0.0312}    # batch only: this item's own sampled latency

Contract: ``add()`` is cheap (appends a tuple); ``run_flusher()`` writes pending records to the
file every ``interval`` seconds (0.25 by default) and flushes it to the OS; ``close()`` writes
what is left (call it at shutdown). ``since(ts)`` returns the records with ``ts >= since`` still
in memory (past ``memory`` records, the oldest are forgotten down to ``memory // 2``), assuming
records are appended in ``ts`` order within DISORDER seconds. The file is truncated at start.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json

DISORDER = 300.0  # seconds a record may be appended after a later-stamped one
_FIELDS = ("ts", "endpoint", "model", "outcome", "latency", "req", "item", "n", "item_latency")


def to_dict(rec: tuple) -> dict:
    """The JSON object of a record tuple (batch-only fields left out for /single)."""
    d = dict(zip(_FIELDS, rec))
    if d["item"] is None:
        del d["item"], d["n"], d["item_latency"]
    return d


class ArrivalLog:
    """See the module docstring."""

    def __init__(self, path: str | None = None, memory: int = 1_000_000):
        self.records: list[tuple] = []
        self.unwritten = 0  # records at the end of self.records not yet in the file
        self.memory = max(1000, memory)
        self.file = open(path, "w", encoding="utf-8") if path else None

    def add(self, ts, endpoint, model, outcome, latency=0.0, req=None, item=None, n=None,
            item_latency=None) -> None:
        self.records.append((ts, endpoint, model, outcome, latency, req, item, n, item_latency))
        self.unwritten += 1

    def since(self, ts: float = 0.0, limit: int | None = None) -> list[dict]:
        # Records are appended in arrival order give or take a body upload: skip by bisection
        # up to a margin of DISORDER seconds, then filter.
        start = bisect.bisect_left(self.records, ts - DISORDER, key=lambda r: r[0])
        out = [to_dict(r) for r in itertools.islice(self.records, start, None) if r[0] >= ts]
        return out[:limit] if limit is not None else out

    def flush(self) -> None:
        """Write pending records to the file, then forget the oldest beyond ``memory``."""
        if self.file is not None and self.unwritten:
            pending = self.records[len(self.records) - self.unwritten:]
            self.file.write("".join(json.dumps(to_dict(r)) + "\n" for r in pending))
            self.file.flush()
        self.unwritten = 0
        if len(self.records) > self.memory:
            del self.records[: len(self.records) - self.memory // 2]

    async def run_flusher(self, interval: float = 0.25) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush()

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
            self.file = None
