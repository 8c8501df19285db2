"""A/B table of two binaries from run_all results files: control plane (cp) and quota
utilisation ((c) against n / capacity and against the replay bound, (u) against the pooled
bound), one row per run, then the median and range per binary.

    .venv/bin/python -m tests.bench.ab_table OLD=dir1,dir3 NEW=dir2,dir4 > table.md

Each dir holds a results.json written by `run_all --out DIR`."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

COLUMNS = [
    ("cp /single, tasks/s", lambda r: r["cp"]["single"]["tasks_per_s"], "{:,.0f}"),
    ("cp batch, tasks/s", lambda r: r["cp"]["batch"]["tasks_per_s"], "{:,.0f}"),
    ("(c) of n / capacity", lambda r: 100 * r["d"]["c_utilisation"], "{:.1f}%"),
    ("(c) of replay bound", lambda r: 100 * r["d"]["c_utilisation_replay"], "{:.1f}%"),
    ("(u) of pooled bound", lambda r: 100 * r["u"]["utilisation"], "{:.1f}%"),
    ("windows over at the backend (c, u; 1/5/60 s)",
     lambda r: "/".join(str(r[s]["windows_over"][f"{w}s_scaled"]["over"]) for s in ("c", "u")
                        for w in (1, 5, 60)), "{}"),
]


def load(path: Path) -> dict:
    return json.loads((path / "results.json").read_text())["runs"]


def render(groups: dict[str, list[Path]]) -> str:
    head = "| binary | run | " + " | ".join(c[0] for c in COLUMNS) + " |"
    out = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for label, dirs in groups.items():
        runs = [load(d) for d in dirs]
        for d, r in zip(dirs, runs):
            cells = [fmt.format(get(r)) for _, get, fmt in COLUMNS]
            out.append(f"| {label} | {d.name} ({r['u']['_ran_at'][11:16]}) | " + " | ".join(cells)
                       + " |")
        cells = []
        for _, get, fmt in COLUMNS:
            values = [get(r) for r in runs]
            if isinstance(values[0], str):
                cells.append("")
                continue
            cells.append(f"{fmt.format(statistics.median(values))} "
                         f"({fmt.format(min(values))}–{fmt.format(max(values))})")
        out.append(f"| **{label}** | median (range) | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    groups = {}
    for arg in argv:
        label, _, dirs = arg.partition("=")
        groups[label] = [Path(d) for d in dirs.split(",") if d]
    if not groups:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(render(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
