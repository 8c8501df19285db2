"""Arrival log: one record per request (per item for /batch), kept in memory and in a file.

Record (a JSON object; also one line of the ``--arrival-log`` JSON Lines file)::

    {"ts": 1732830000.123456,   # time.time() when the request's headers arrived (before any wait)
     "endpoint": "single",      # "single" | "batch"
     "model": "m3",             # null when the body was unreadable (outcome "400")
     "outcome": "ok",           # ok | 5xx | 429 | garbage | drop | hang | reuse_reset | 404 | 400
                                # | quota429 | tpm_429 | queue_full | cancelled
     "latency": 0.0421,         # sampled latency applied to the response (batch: the max), not
                                # counting the queue wait and the load factor
     "req": 17,                 # request number in this process (batch items share it)
     "item": 0, "n": 3,         # batch only: index of the item, number of items
     "item_latency": 0.0312,    # batch only: this item's own sampled latency
     "queued": 0, "busy": 2,    # calls of the model waiting / in service when this one arrived
     "queue_wait": 0.0,         # real seconds waited for a slot (cancelled: until it left)
     "service": 0.0312,         # seconds in service (sampled latency x load factor)
     "finished": 1732830000.2,  # time.time() when its service ended (or it left the queue)
     "prompt_tokens": 3, "completion_tokens": 16}   # usage (tpm_429: the refused cost)

The fields after ``item_latency`` are left out when they do not apply (see the README).
Contract: ``add()`` is cheap (appends a list) and returns the record; a record added with
``pending=True`` may still be changed with ``update(rec, **fields)`` and must be settled with
``done(rec)``; ``run_flusher()`` writes records to the file every ``interval`` seconds (0.25 by
default), in arrival order, up to the first one still pending, and flushes it to the OS;
``close()`` writes everything left, pending or not (call it at shutdown). ``since(ts)`` returns the records with ``ts >= since`` still
in memory (past ``memory`` records, the oldest are forgotten down to ``memory // 2``), assuming
records are appended in ``ts`` order within DISORDER seconds. The file is truncated at start.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json

DISORDER = 300.0  # seconds a record may be appended after a later-stamped one
_FIELDS = ("ts", "endpoint", "model", "outcome", "latency", "req", "item", "n", "item_latency",
           "queued", "busy", "queue_wait", "service", "finished", "prompt_tokens",
           "completion_tokens")
_INDEX = {name: i for i, name in enumerate(_FIELDS)}
_FIRST_OPTIONAL = _INDEX["queued"]
_PENDING = len(_FIELDS)  # index of the "not settled yet" flag in a record list


def to_dict(rec: list) -> dict:
    """The JSON object of a record (batch-only fields left out for /single, the optional ones
    when None)."""
    d = dict(zip(_FIELDS[:_FIRST_OPTIONAL], rec))
    if d["item"] is None:
        del d["item"], d["n"], d["item_latency"]
    for i in range(_FIRST_OPTIONAL, _PENDING):
        if rec[i] is not None:
            d[_FIELDS[i]] = rec[i]
    return d


class ArrivalLog:
    """See the module docstring."""

    def __init__(self, path: str | None = None, memory: int = 1_000_000):
        self.records: list[list] = []
        self.unwritten = 0  # records at the end of self.records not yet in the file
        self.memory = max(1000, memory)
        self.file = open(path, "w", encoding="utf-8") if path else None

    def add(self, ts, endpoint, model, outcome, latency=0.0, req=None, item=None, n=None,
            item_latency=None, *, pending=False, **fields) -> list:
        rec = [ts, endpoint, model, outcome, latency, req, item, n, item_latency,
               None, None, None, None, None, None, None, pending]
        for name, value in fields.items():
            rec[_INDEX[name]] = value
        self.records.append(rec)
        self.unwritten += 1
        return rec

    @staticmethod
    def update(rec: list, **fields) -> None:
        for name, value in fields.items():
            rec[_INDEX[name]] = value

    @staticmethod
    def done(rec: list) -> None:
        rec[_PENDING] = False

    def since(self, ts: float = 0.0, limit: int | None = None) -> list[dict]:
        # Records are appended in arrival order give or take a body upload: skip by bisection
        # up to a margin of DISORDER seconds, then filter.
        start = bisect.bisect_left(self.records, ts - DISORDER, key=lambda r: r[0])
        out = [to_dict(r) for r in itertools.islice(self.records, start, None) if r[0] >= ts]
        return out[:limit] if limit is not None else out

    def flush(self, force: bool = False) -> None:
        """Write unwritten records to the file up to the first one still pending (all of them
        with ``force``), then forget the oldest written ones beyond ``memory``."""
        if self.unwritten:
            todo = self.records[len(self.records) - self.unwritten:]
            if not force:
                todo = list(itertools.takewhile(lambda r: not r[_PENDING], todo))
            if self.file is not None and todo:
                self.file.write("".join(json.dumps(to_dict(r)) + "\n" for r in todo))
                self.file.flush()
            self.unwritten -= len(todo)
        if len(self.records) > self.memory:
            del self.records[: min(len(self.records) - self.memory // 2,
                                   len(self.records) - self.unwritten)]

    async def run_flusher(self, interval: float = 0.25) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush()

    def close(self) -> None:
        self.flush(force=True)
        if self.file is not None:
            self.file.close()
            self.file = None
