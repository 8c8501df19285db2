"""Start-up A/B: two (or more) llmlb binaries, runs interleaved, so that the machine's drift
(other jobs, CPU frequency) hits every binary alike. Run by hand:

    .venv/bin/python -m tests.bench.startup_ab --runs 30 OLD_BINARY NEW_BINARY

Each binary gets its own database, migrated by that binary (so each runs against the schema it
was built for), and every binary runs against the same --instant backend. One run is the
`start` benchmark's (issue3.startup_run): insert one task, wait 200 ms, exec `llmlb work
--max-tasks 1 --until-empty`, and take the time from just before the exec to the first request
at the backend (the arrival log; same clock). Prints the
median and quartiles per binary. Connects like the `start` benchmark's TCP row (127.0.0.1,
role llmlb). Only 127.0.0.1 is contacted; only processes it started are stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.bench"

from . import common as C  # noqa: E402
from .issue3 import startup_run  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=30, help="runs per binary (30)")
    a = ap.parse_args()
    for b in a.binaries:
        if not b.is_file():
            print(f"startup_ab: no such binary: {b}", file=sys.stderr)
            return 2
    ms: dict[Path, list[float]] = {b: [] for b in a.binaries}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))  # arrival and llmlb logs
        backend = stack.enter_context(C.running_backend(instant=True,
                                                        arrival_log=tmp / "arrivals.jsonl"))
        urls = {}
        for b in a.binaries:
            C.LLMLB = b  # fresh_db migrates with C.LLMLB
            urls[b] = stack.enter_context(C.fresh_db("ab", False))
            C.set_limits(urls[b], C.unbounded_limits())
        task = 0
        for _ in range(a.runs):
            for b in a.binaries:
                first, _start = startup_run(urls[b], urls[b], backend, tmp / f"llmlb{task}.log", 1,
                                            task, binary=b)
                task += 1
                if first is not None:
                    ms[b].append(first)
    for b, v in ms.items():
        if not v:
            print(f"{b}: no request reached the backend")
            continue
        q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
        print(f"{b}: median {statistics.median(v):.1f} ms (quartiles {q[0]:.1f} / {q[2]:.1f}),"
              f" {len(v)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
