"""The cost of short invocations, from run_all results files that hold scenarios c (long-running
workers) and e (staggered short invocations) of the same run: e's throughput against c's, and
the share of e's backend calls that were abandoned at a drain and sent again.

    .venv/bin/python -m tests.bench.boundary_table FILE [FILE ...] > table.md"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def row(path: Path) -> tuple[str, float, float, float, int, int, float]:
    runs = json.loads(path.read_text())["runs"]
    c, e = runs["c"], runs["e"]
    ratio = e["throughput_per_s"] / c["throughput_per_s"]
    share = e["abandoned_calls"] / e["backend_calls"]
    return (e["_ran_at"][11:16], c["throughput_per_s"], e["throughput_per_s"], ratio,
            e["abandoned_calls"], e["backend_calls"], share)


def render(paths: list[Path]) -> str:
    out = ["| run | (c) long-running, tasks/s | (e) short invocations, tasks/s | (e) / (c) "
           "| abandoned calls | of all calls |", "|---|---|---|---|---|---|"]
    rows = [row(p) for p in paths]
    for p, (at, c, e, ratio, ab, calls, share) in zip(paths, rows):
        out.append(f"| {p.stem} ({at}) | {c:.1f} | {e:.1f} | {100 * ratio:.1f}% | {ab} of {calls} "
                   f"| {100 * share:.2f}% |")
    ratios = [r[3] for r in rows]
    shares = [r[6] for r in rows]
    out.append(f"| **median (range)** | | | **{100 * statistics.median(ratios):.1f}%** "
               f"({100 * min(ratios):.1f}–{100 * max(ratios):.1f}%) | | "
               f"**{100 * statistics.median(shares):.2f}%** ({100 * min(shares):.2f}–"
               f"{100 * max(shares):.2f}%) |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(render([Path(a) for a in sys.argv[1:]]))
