"""Renders the "Token budgets" table of docs/benchmarks.md from tests/bench/tpm.py results files.

    .venv/bin/python -m tests.bench.tpm_table docs/bench/tpm-2026-12-01/run-*.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def render(paths: list[Path]) -> str:
    runs = [(p, json.loads(p.read_text())) for p in paths]
    out = ["| run | model | tpm / burst | tokens at the backend / token bound | of the bound | "
           "busiest 1 s / 5 s against their bound | 429s at the backend | reserved / settled "
           "(estimator error) | calls under-reserved |",
           "|---|---|---|---|---|---|---|---|---|"]
    shares = []
    for p, r in runs:
        for m, v in r["models"].items():
            e = v["estimator"]
            shares.append(v["utilisation_of_bound"])
            out.append(
                f"| {p.name} | {m} | {v['tpm']} / {v['tpm_burst']} | "
                f"{v['tokens_at_backend']} / {v['token_bound']} | "
                f"{100 * v['utilisation_of_bound']:.1f}% | {v['max_1s']} / {v['bound_1s']}, "
                f"{v['max_5s']} / {v['bound_5s']} | {v['tpm_429_at_backend']} | "
                f"{e['reserved']} / {e['settled']} ({e['error_pct']:+.1f}%) | "
                f"{e['under_reserved_calls']} of {e['calls']} |")
    out.append(f"| **median (range)** | | | | **{100 * statistics.median(shares):.1f}%** "
               f"({100 * min(shares):.1f}–{100 * max(shares):.1f}%) | | | | |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render([Path(a) for a in sys.argv[1:]]), end="")
