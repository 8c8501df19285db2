"""A/B table of two binaries from run_all results files: control plane (cp) and quota
utilisation ((c) against n / capacity and against the replay bound, (u) against the pooled
bound), one row per run, then the median and range per binary.

    .venv/bin/python -m tests.bench.ab_table OLD=dir1,dir3 NEW=dir2,dir4 > table.md

Each argument lists results files (`run_all --out DIR` writes DIR/results.json; a directory
stands for its results.json). A run without a scenario shows "-" in its columns."""
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
    """The runs of a results file, or of DIR/results.json."""
    file = path if path.suffix == ".json" else path / "results.json"
    return json.loads(file.read_text())["runs"]


def value(get, runs: dict):
    """A column's value for one run; None when the run lacks that scenario."""
    try:
        return get(runs)
    except KeyError:
        return None


def render(groups: dict[str, list[Path]]) -> str:
    head = "| binary | run | " + " | ".join(c[0] for c in COLUMNS) + " |"
    out = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for label, dirs in groups.items():
        runs = [load(d) for d in dirs]
        for d, r in zip(dirs, runs):
            cells = [("-" if value(get, r) is None else fmt.format(value(get, r)))
                     for _, get, fmt in COLUMNS]
            ran = next(iter(r.values()))["_ran_at"][11:16]
            out.append(f"| {label} | {d.stem} ({ran}) | " + " | ".join(cells) + " |")
        cells = []
        for _, get, fmt in COLUMNS:
            values = [v for v in (value(get, r) for r in runs) if v is not None]
            if not values or isinstance(values[0], str):
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
