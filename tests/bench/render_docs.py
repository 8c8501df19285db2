"""Renders every figure of docs/benchmarks.md and docs/bottlenecks.md from the benchmark results,
into marked blocks of those files:

    <!-- generated: NAME (tests/bench/render_docs.py; do not edit) -->
    ...
    <!-- end generated: NAME -->

A block whose markers stand on one line is an inline block (a sentence inside a paragraph).
Everything between the markers is generated; prose outside the blocks holds no measured figures.

    .venv/bin/python -m tests.bench.render_docs            # rewrites the blocks in place
    .venv/bin/python -m tests.bench.render_docs --check    # exit 1 and a unified diff if stale

Inputs: docs/bench/results.json (`run_all`'s merged results: {"runs": {name: ...}, "machine":
{...}}), docs/bench/ab-2026-12-01/*.json and docs/bench/boundary-2026-12-01/*.json (results files
of `run_all --out DIR`). A scenario is either one run's summary (a dict, as `run_all` writes it)
or several runs: {"runs": [summary, ...], "commit": "...", "date": "..."}; every figure goes
through stat(), and a figure of N > 1 runs renders as "median (min–max), n=N".

The results keys each block uses are listed in BLOCK_KEYS (and in the block functions).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/benchmarks.md", "docs/bottlenecks.md")
AB_DIR = "docs/bench/ab-2026-12-01"
BOUNDARY_DIR = "docs/bench/boundary-2026-12-01"
TPM_DIR = "docs/bench/tpm-2026-12-01"
TOOL = "tests/bench/render_docs.py"
MISSING = "—"
MODELS = [f"m{i}" for i in range(10)]


# --------------------------------------------------------------------------- statistics


def stat(values: Iterable[float]) -> tuple[float | None, float | None, float | None, int]:
    """(median, min, max, n) of the values that are not None; (None, None, None, 0) if none."""
    vs = [v for v in values if v is not None]
    if not vs:
        return None, None, None, 0
    return statistics.median(vs), min(vs), max(vs), len(vs)


def fmt_stat(values: Iterable[float], f: Callable[[float], str]) -> str:
    """One figure: f(value) for one run, "median (min–max), n=N" for several, "—" for none."""
    med, lo, hi, n = stat(values)
    if n == 0:
        return MISSING
    if n == 1:
        return f(med)
    return f"{f(med)} ({f(lo)}–{f(hi)}), n={n}"


def compact(values: Iterable[float], f: Callable[[float], str]) -> str:
    """"median (min–max)" without the run count (for text that states it once), or the value
    alone when every run gave the same; "—" for none."""
    med, lo, hi, n = stat(values)
    if n == 0:
        return MISSING
    if n == 1 or f(lo) == f(hi):
        return f(med)
    return f"{f(med)} ({f(lo)}–{f(hi)})"


def num(nd: int = 1, suffix: str = "") -> Callable[[float], str]:
    return lambda v: f"{v:,.{nd}f}{suffix}"


def pct(nd: int = 1) -> Callable[[float], str]:
    """A fraction (0.968) as a percentage (96.8%)."""
    return lambda v: f"{100 * v:,.{nd}f}%"


def times(nd: int = 2) -> Callable[[float], str]:
    return lambda v: f"{v:,.{nd}f}×"


# --------------------------------------------------------------------------- results access


def runs_of(scenario) -> list[dict]:
    """The runs of a scenario: [summary] for one run's summary, the list for a multi-run one."""
    if scenario is None:
        return []
    if isinstance(scenario, dict) and isinstance(scenario.get("runs"), list):
        return [r for r in scenario["runs"] if isinstance(r, dict)]
    return [scenario]


def get(d, path: str):
    """d's value at a dotted path ("wait.p50_s"); None when any part is missing."""
    for part in path.split("."):
        if isinstance(d, dict) and part in d:
            d = d[part]
        else:
            return None
    return d


class Results:
    """The results files the docs cite."""

    def __init__(self, main: dict, ab: dict[str, dict] | None = None,
                 boundary: dict[str, dict] | None = None, tpm: dict[str, dict] | None = None):
        self.main = main
        self.tpm = tpm or {}            # file stem -> the whole tests/bench/tpm.py result
        self.runs = main.get("runs", {})
        self.machine = main.get("machine", {})
        self.ab = ab or {}              # file stem -> its "runs"
        self.boundary = boundary or {}  # file stem -> its "runs"

    @classmethod
    def load(cls, root: Path = ROOT) -> "Results":
        main = json.loads((root / "docs/bench/results.json").read_text())
        ab = {p.stem: json.loads(p.read_text())["runs"]
              for p in sorted((root / AB_DIR).glob("*.json"))}
        bd = {p.stem: json.loads(p.read_text())["runs"]
              for p in sorted((root / BOUNDARY_DIR).glob("*.json"))}
        tpm = {p.stem: json.loads(p.read_text())
               for p in sorted((root / TPM_DIR).glob("*.json"))}
        return cls(main, ab, bd, tpm)

    def has(self, name: str) -> bool:
        return bool(runs_of(self.runs.get(name)))

    def vals(self, name: str, path: str | Callable[[dict], float]) -> list:
        """The value at `path` (a dotted key or a function of one run) in every run of `name`."""
        out = []
        for r in runs_of(self.runs.get(name)):
            try:
                v = path(r) if callable(path) else get(r, path)
            except (KeyError, TypeError, ZeroDivisionError):
                v = None
            if v is not None:
                out.append(v)
        return out

    def med(self, name: str, path) -> float | None:
        return stat(self.vals(name, path))[0]

    def fig(self, name: str, path, f: Callable[[float], str] = num()) -> str:
        return fmt_stat(self.vals(name, path), f)

    def ratio(self, num_name: str, num_path, den_name: str, den_path,
              f: Callable[[float], str] = times()) -> str:
        """The ratio of two scenarios' medians (runs of different scenarios are not paired)."""
        a, b = self.med(num_name, num_path), self.med(den_name, den_path)
        return f(a / b) if a is not None and b else MISSING

    # provenance ----------------------------------------------------------------------

    def provenance(self, names: Iterable[str]) -> tuple[str, str, str]:
        """(dates, binaries, run counts) of the scenarios, each a short text."""
        dates, commits, counts = [], [], []
        for name in dict.fromkeys(names):
            s = self.runs.get(name)
            rs = runs_of(s)
            if not rs:
                continue
            multi = isinstance(s, dict) and isinstance(s.get("runs"), list)
            for r in rs:
                d = (s.get("date") if multi else None) or r.get("_ran_at") or r.get("date")
                c = ((s.get("commit") if multi else None) or get(r, "_binary.git_head")
                     or r.get("commit"))
                if d:
                    dates.append(str(d))
                if c:
                    commits.append(str(c))
            counts.append(f"{name} ×{len(rs)}" if len(rs) > 1 else name)
        dates.sort()
        if not dates:
            when = "date not recorded"
        elif dates[0][:10] == dates[-1][:10]:
            when = dates[0][:16] + ("" if dates[0][:16] == dates[-1][:16]
                                   else "–" + dates[-1][11:16])
        else:
            when = f"{dates[0][:16]} – {dates[-1][:16]}"
        seen = list(dict.fromkeys(commits))
        return when, (", ".join(seen) if seen else "not recorded"), ", ".join(counts)

    def source(self, names: list[str], command: str) -> str:
        """The provenance line of a block: file, scenarios with their run counts, date,
        binary's commit, command."""
        when, commits, counts = self.provenance(names)
        if not counts:
            return ""
        n = self.run_counts(names)
        return (f"<sub>Source: `docs/bench/results.json`, runs {counts} ({n}); "
                f"{when}; binary of commit {commits}; command: `{command}`.</sub>")

    def run_counts(self, names: Iterable[str]) -> str:
        names = [n for n in dict.fromkeys(names) if self.has(n)]
        runs = [len(runs_of(self.runs.get(n))) for n in names]
        if set(runs) == {1}:
            return "1 run each" if len(runs) > 1 else "1 run"
        return "runs: " + ", ".join(f"{n} {k}" for n, k in zip(names, runs))

    def note(self, names: list[str], command: str) -> str:
        """Provenance of an inline block: an HTML comment (invisible in the rendered page)."""
        when, commits, counts = self.provenance(names)
        return (f"<!-- source: results.json {counts} ({self.run_counts(names)}); {when}; "
                f"commit {commits}; `{command}` -->")


def run_all_cmd(names: str) -> str:
    return f".venv/bin/python -m tests.bench.run_all --only {names}"


def issue16_cmd(res: "Results", names: str) -> str:
    """The command recorded with issue 16's scenarios (tests/bench/issue16.py), else its
    generic form."""
    for n in names.split(","):
        c = res.runs.get(n)
        if isinstance(c, dict) and c.get("command"):
            return c["command"]
    return f".venv/bin/python -m tests.bench.issue16 --runs 3 --only {names}"


# --------------------------------------------------------------------------- Markdown helpers


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def windows(r: dict, kind: str = "backend") -> str:
    """Windows over the limit, 1 s / 5 s / 60 s scaled, of one run."""
    if kind == "backend":
        w = r.get("windows_over") or {}
        vs = [get(w, f"{s}s_scaled.over") for s in (1, 5, 60)]
    else:
        w = r.get("calls_log_windows_over")
        vs = [get(w, f"{s}s_scaled") for s in (1, 5, 60)] if w else [None] * 3
    if all(v is None for v in vs):
        return MISSING
    return " / ".join(MISSING if v is None else str(v) for v in vs)


def windows_fig(res: Results, name: str, kind: str = "backend") -> str:
    """Windows over for every run of a scenario: one triple per run, "; "-separated."""
    rs = runs_of(res.runs.get(name))
    if not rs:
        return MISSING
    return "; ".join(windows(r, kind) for r in rs)


def yes_no(ok: bool | None, yes: str = "**yes**", no: str = "**no**") -> str:
    return MISSING if ok is None else (yes if ok else no)


# --------------------------------------------------------------------------- blocks
# Each block: a function (Results) -> str. BLOCK_KEYS lists the results keys each one reads.

BLOCKS: dict[str, Callable[[Results], str]] = {}
BLOCK_KEYS: dict[str, str] = {}


def block(name: str, keys: str):
    def deco(fn):
        BLOCKS[name] = fn
        BLOCK_KEYS[name] = keys
        return fn
    return deco


# ---- benchmarks.md: summary


@block("summary-today-vs-llmlb",
       "runs.a (makespan_s, makespan_unscaled_s, backend_calls, tasks, legacy.lost_at_timeout_items, "
       "windows_over), runs.b (makespan_s, makespan_unscaled_s, backend_calls, llmlb.released), "
       "runs.c (calls_log_windows_over, windows_over), runs.arr_a / runs.arr_b (wait.p50_s, "
       "wait.p95_s, wait.p50_unscaled_s, wait.p95_unscaled_s)")
def summary_today_vs_llmlb(res: Results) -> str:
    mk = lambda n: (f"{res.fig(n, 'makespan_s')} s ({res.fig(n, 'makespan_unscaled_s', num(0))} s "  # noqa
                    f"real)")
    wait = lambda n: (f"p50 {res.fig(n, 'wait.p50_s', num(2))} s / p95 "  # noqa
                      f"{res.fig(n, 'wait.p95_s', num(1))} s ({res.fig(n, 'wait.p50_unscaled_s', num(0))}"
                      f" / {res.fig(n, 'wait.p95_unscaled_s', num(0))} s real)")
    rows = [
        ["14,000 pinned tasks, 200 calls in flight: makespan", mk("a"), mk("b"),
         res.ratio("a", "makespan_s", "b", "makespan_s") + " faster"],
        ["calls sent per task (lost at the 30-minute timeout and sent again)",
         res.fig("a", lambda r: r["backend_calls"] / r["tasks"], num(3)),
         res.fig("b", lambda r: r["backend_calls"] / r["tasks"], num(3)),
         f"today: {res.fig('a', 'legacy.lost_at_timeout_items', num(0))} calls lost"],
        ["tasks arriving during the run: wait", wait("arr_a"), wait("arr_b"), ""],
        ["per-model rate windows over the limit, 1 s / 5 s / 60 s (limits of (c))",
         windows_fig(res, "a") + " (no limits)",
         windows_fig(res, "c", "log") + " on llmlb's call log; " + windows_fig(res, "c")
         + " at the backend", "(c): llmlb under binding limits"],
    ]
    out = table(["", "today's design (a)", "llmlb (b)", ""], rows)
    out += ["", res.source(["a", "b", "c", "arr_a", "arr_b"], run_all_cmd("a,b,c,arr_a,arr_b"))]
    return "\n".join(out)


def _start_rows(res: Results) -> list[list[str]]:
    rows = []
    variants = [("pgbouncer", "PgBouncer next to the worker (Unix socket, peer; PgBouncer → "
                 "server TCP + TLS + SCRAM)"), ("socket", "Unix socket, peer authentication"),
                ("tcp_no_tls", "TCP 127.0.0.1, SCRAM, `sslmode=disable`"),
                ("", "TCP 127.0.0.1, TLS + SCRAM (Debian's defaults)")]
    for key, label in variants:
        pre = f"{key}." if key else ""
        med = res.med("start", pre + "median_ms")
        p95 = res.med("start", pre + "p95_ms")
        if med is None:
            continue
        met = ("**yes**" if p95 is not None and p95 <= 50 else
               ("median only" if med <= 50 else "**no**"))
        rows.append(["start-up ≤ 50 ms (exec → first request at the backend)" if not rows else "",
                     "issue 3" if not rows else "",
                     f"{label}: median **{res.fig('start', pre + 'median_ms', num(1))} ms**, "
                     f"p95 {res.fig('start', pre + 'p95_ms', num(1))}", met])
    return rows


@block("summary-targets",
       "runs.a (makespan_s, bound.bound_s), runs.b (makespan_s), runs.u (tasks, utilisation, "
       "makespan_s, bound.bound_s, backlog_phase.rate_utilisation, backlog_phase.drain_s, "
       "windows_over, calls_log_windows_over), runs.d (c_utilisation, c_utilisation_replay), "
       "runs.c (windows_over, calls_log_windows_over), runs.e / runs.e_sync "
       "(boundaries.calls.profile_dip, boundaries.answers.profile_dip), runs.cp (single.tasks_per_s, "
       "single.tasks_per_s_middle_80pct, batch.tasks_per_s, ceiling.single.req_per_s), runs.mem "
       "(vmhwm_mb), runs.start (median_ms, p95_ms, and the same of tcp_no_tls, socket, pgbouncer)")
def summary_targets(res: Results) -> str:
    speed = res.med("a", "makespan_s"), res.med("b", "makespan_s")
    ceiling = res.ratio("a", "makespan_s", "a", "bound.bound_s")
    sp = speed[0] / speed[1] if None not in speed and speed[1] else None
    uu = res.med("u", "utilisation")
    cu, cr = res.med("d", "c_utilisation"), res.med("d", "c_utilisation_replay")
    win_log_ok = all(v == 0 for n in ("c", "u") for r in runs_of(res.runs.get(n))
                     for v in (r.get("calls_log_windows_over") or {}).values())
    win_be = {n: all(get(r, f"windows_over.{s}s_scaled.over") == 0
                     for r in runs_of(res.runs.get(n)) for s in (1, 5, 60))
              for n in ("c", "u")}
    dip_e, dip_s = (res.med("e", "boundaries.calls.profile_dip"),
                    res.med("e_sync", "boundaries.calls.profile_dip"))
    cps = res.med("cp", "single.tasks_per_s")
    mem = res.med("mem", "vmhwm_mb")
    rows = [
        ["≥ 3.5× faster than today's design at equal concurrency (200 in flight)", "(a) vs (b)",
         f"**{times()(sp) if sp else MISSING}**; the ceiling for this workload is {ceiling} "
         f"(Little's law)", yes_no(sp >= 3.5 if sp else None)],
        ["quota utilisation ≥ 95% of issue 3's bound N / Σ min(rpm_i/60, max_inflight_i / L_i)",
         f"(u): {res.fig('u', 'tasks', num(0))} unpinned tasks, 4 processes",
         f"**{res.fig('u', 'utilisation', pct())}** (makespan {res.fig('u', 'makespan_s')} s, "
         f"bound {res.fig('u', 'bound.bound_s')} s); "
         f"{res.fig('u', 'backlog_phase.rate_utilisation', pct())} of the summed capacity while "
         f"the backlog lasted, then {res.fig('u', 'backlog_phase.drain_s')} s of drain",
         yes_no(uu >= 0.95 if uu is not None else None)],
        ["the same with pinned tasks: ≥ 95% of max_i n_i / capacity_i", "(c) vs (d)",
         f"**{res.fig('d', 'c_utilisation', pct())}** of n / capacity; "
         f"**{res.fig('d', 'c_utilisation_replay', pct())}** of an overhead-free dispatcher "
         f"replaying the run's latencies", yes_no(cu >= 0.95 if cu is not None else None)],
        ["0 windows over `rpm × W / 60 + burst`", "(c), (u)",
         f"call log: (c) {windows_fig(res, 'c', 'log')}, (u) {windows_fig(res, 'u', 'log')}; "
         f"at the backend: (c) {windows_fig(res, 'c')}, (u) {windows_fig(res, 'u')}",
         f"call log {yes_no(win_log_ok)}; backend: (c) {yes_no(win_be['c'])}, "
         f"(u) {yes_no(win_be['u'])}"],
        ["no throughput dip > 5% at invocation boundaries", "(e), (e_sync)",
         f"staggered slots: {res.fig('e', 'boundaries.calls.profile_dip', pct())} calls, "
         f"{res.fig('e', 'boundaries.answers.profile_dip', pct())} answers; synchronized DAG "
         f"runs: {res.fig('e_sync', 'boundaries.calls.profile_dip', pct())} calls",
         f"staggered {yes_no(dip_e <= 0.05 if dip_e is not None else None)}, synchronized "
         f"{yes_no(dip_s <= 0.05 if dip_s is not None else None)}"],
        ["control plane ≥ 5,000 tasks/s, 4 processes, 2 cores, `--instant`", "issue 3",
         f"/single **{res.fig('cp', 'single.tasks_per_s', num(0))} tasks/s** (middle 80%: "
         f"{res.fig('cp', 'single.tasks_per_s_middle_80pct', num(0))}); `--endpoint batch` "
         f"{res.fig('cp', 'batch.tasks_per_s', num(0))}; backend alone "
         f"{res.fig('cp', 'ceiling.single.req_per_s', num(0))} req/s",
         yes_no(cps >= 5000 if cps is not None else None)],
        ["memory ≤ 64 MB RSS with 2,000 in flight", "issue 3",
         f"VmHWM {res.fig('mem', 'vmhwm_mb')} MB", yes_no(mem <= 64 if mem is not None else None)],
    ] + _start_rows(res)
    out = table(["target", "where", "result", "met?"], rows)
    names = ["a", "b", "c", "d", "u", "e", "e_sync", "cp", "mem", "start"]
    out += ["", res.source(names, ".venv/bin/python -m tests.bench.run_all")]
    return "\n".join(out)


# ---- benchmarks.md: finite-capacity scenarios (placeholders until measured)

FINITE_COLS = {
    "makespan_s": ("makespan s", num(1)),
    "solved": ("solved", num(0)),
    "failed": ("failed", num(0)),
    "calls": ("calls at the backend", num(0)),
    "resent": ("resent (calls beyond one per task, of all calls)", pct(1)),
    "http_429": ("HTTP 429", num(0)),
    "lost_batches": ("lost batches", num(0)),
    "goodput_per_s": ("goodput, tasks/s", num(1)),
    "goodput_whole_per_s": ("goodput over the whole run, tasks/s", num(1)),
    "capacity_per_s": ("backend capacity, tasks/s", num(1)),
    "goodput_of_capacity": ("goodput / capacity", pct(1)),
    "bound_s": ("ceiling: fastest possible makespan s", num(1)),
    "ceiling": ("of the Little's-law ceiling", pct(1)),
}


def finite_table(res: Results, rows: list[tuple[str, str]], cols: list[str], what: str,
                 command: str, compare: tuple[str, str] | None = None) -> str:
    names = [k for _, k in rows]
    if not any(res.has(k) for k in names):
        return (f"*Not measured yet* ({what}): scenarios "
                + ", ".join(f"`{k}`" for k in names) + " are not in `docs/bench/results.json`.")
    head = ["run", "scenario"] + [FINITE_COLS[c][0] for c in cols]
    body = []
    for label, key in rows:
        if not res.has(key):
            body.append([label, f"`{key}`"] + ["not measured yet"] + [""] * (len(cols) - 1))
            continue
        body.append([label, f"`{key}`"] + [res.fig(key, c, FINITE_COLS[c][1]) for c in cols])
    out = table(head, body)
    if compare and res.has(compare[0]) and res.has(compare[1]):
        out += ["", f"Makespan, today's design / llmlb (ratio of medians): "
                f"**{res.ratio(compare[0], 'makespan_s', compare[1], 'makespan_s')}**; goodput, "
                f"llmlb / today's design: "
                f"**{res.ratio(compare[1], 'goodput_per_s', compare[0], 'goodput_per_s')}**."]
    loads = [ld["load1"] for k in names for r in runs_of(res.runs.get(k))
             for ld in (r.get("load") if isinstance(r.get("load"), list) else [])]
    if loads:
        out += ["", f"1-minute load average before and after each run: "
                f"{fmt_stat(loads, num(2))}."]
    out += ["", res.source([k for k in names if res.has(k)], command)]
    return "\n".join(out)


@block("finite-like-for-like",
       "runs.cap_a, runs.cap_b: makespan_s, solved, failed, calls, resent, http_429, lost_batches, "
       "goodput_per_s, ceiling")
def finite_like_for_like(res: Results) -> str:
    return finite_table(
        res, [("today's design", "cap_a"), ("llmlb", "cap_b")]
        + ([("llmlb, `--no-overload-protection` (control)", "cap_b_noprot")]
           if res.has("cap_b_noprot") else []),
        ["makespan_s", "solved", "failed", "calls", "resent", "http_429", "lost_batches",
         "goodput_per_s", "bound_s", "ceiling"],
        "finite-capacity backend, like for like", issue16_cmd(res, "cap_a,cap_b"), ("cap_a", "cap_b"))


@block("finite-equal-total",
       "runs.eq_a, runs.eq_b: makespan_s, solved, failed, calls, resent, http_429, lost_batches, "
       "goodput_per_s, bound_s, ceiling")
def finite_equal_total(res: Results) -> str:
    return finite_table(
        res, [("today's design", "eq_a"), ("llmlb", "eq_b")]
        + ([("llmlb, `--no-overload-protection` (control)", "eq_b_noprot")]
           if res.has("eq_b_noprot") else []),
        ["makespan_s", "solved", "failed", "calls", "resent", "http_429", "lost_batches",
         "goodput_per_s", "bound_s", "ceiling"],
        "finite-capacity backend, equal total concurrency", issue16_cmd(res, "eq_a,eq_b"),
        ("eq_a", "eq_b"))


@block("finite-faults",
       "runs.fault_a, runs.fault_b: makespan_s, solved, failed, calls, resent, http_429, "
       "lost_batches, goodput_per_s")
def finite_faults(res: Results) -> str:
    return finite_table(
        res, [("today's design", "fault_a"), ("llmlb", "fault_b")]
        + ([("llmlb, `--no-overload-protection` (control)", "fault_b_noprot")]
           if res.has("fault_b_noprot") else []),
        ["makespan_s", "solved", "failed", "calls", "resent", "http_429", "lost_batches",
         "goodput_per_s"],
        "faults injected on both sides", issue16_cmd(res, "fault_a,fault_b"), ("fault_a", "fault_b"))


@block("finite-overload",
       "runs.over4_on, runs.over4_off, runs.over8_on, runs.over8_off: makespan_s, solved, failed, "
       "calls, resent, http_429, goodput_per_s, goodput_whole_per_s, capacity_per_s, "
       "goodput_of_capacity")
def finite_overload(res: Results) -> str:
    return finite_table(
        res, [("4× the capacity, protection on", "over4_on"),
              ("4× the capacity, protection off", "over4_off"),
              ("8× the capacity, protection on", "over8_on"),
              ("8× the capacity, protection off", "over8_off")],
        ["makespan_s", "solved", "failed", "calls", "resent", "http_429", "goodput_per_s",
         "goodput_whole_per_s", "capacity_per_s", "goodput_of_capacity"],
        "overload with and without protection",
        issue16_cmd(res, "over4_on,over4_off,over8_on,over8_off"))


def cfig(res: Results, name: str, path, f: Callable[[float], str] = num()) -> str:
    return compact(res.vals(name, path), f)


def cfg16(res: Results, name: str, key: str):
    """A setting of issue 16's scenario ``name`` (its "config" in results.json)."""
    c = res.runs.get(name)
    return get(c, f"config.{key}") if isinstance(c, dict) else None


def overload_verdict(res: Results, name: str, protection: bool) -> bool | None:
    """Issue 16's done-criteria on every run of an overload scenario. With protection: goodput
    >= 90% of capacity, no failed task, < 5% re-sent. Without: the collapse (goodput < 70% of
    capacity, or failed tasks)."""
    rs = runs_of(res.runs.get(name))
    if not rs:
        return None
    if protection:
        return all((r.get("goodput_of_capacity") or 0) >= 0.9 and r.get("failed") == 0
                   and (r.get("resent") if r.get("resent") is not None else 1) < 0.05
                   for r in rs)
    return all((r.get("goodput_of_capacity") or 0) < 0.7 or (r.get("failed") or 0) > 0
               for r in rs)


@block("summary-finite",
       "runs.cap_a, cap_b, eq_a, eq_b, fault_a, fault_b, *_b_noprot (makespan_s, bound_s, ceiling, "
       "http_429, "
       "lost_batches, failed, unsolved, resent, config); runs.over4_on, over4_off, over8_on, "
       "over8_off (goodput_of_capacity, goodput_whole_of_capacity, resent, failed, "
       "capacity_per_s)")
def summary_finite(res: Results) -> str:
    names = ["cap_a", "cap_b", "eq_a", "eq_b", "fault_a", "fault_b"]
    if not any(res.has(n) for n in names):
        return "*Not measured yet*: issue 16's scenarios are not in `docs/bench/results.json`."
    n = cfg16(res, "cap_a", "n") or cfg16(res, "eq_a", "n")
    slots, rpm, burst = (cfg16(res, "cap_a", k) for k in ("slots", "quota_rpm", "quota_burst"))
    mk = lambda k: f"**{cfig(res, k, 'makespan_s')}**"  # noqa
    gain = lambda a, b: res.ratio(a, "makespan_s", b, "makespan_s")  # noqa
    ceil = lambda a, b: res.ratio(a, "makespan_s", b, "bound_s")  # noqa
    ctl = lambda k: (f"; without overload protection (control) {cfig(res, k + '_b_noprot', 'makespan_s')}"  # noqa
                     if res.has(k + "_b_noprot") else "")
    gctl = lambda k: (f" (control: {gain(k + '_a', k + '_b_noprot')})"  # noqa
                      if res.has(k + "_b_noprot") else "")
    faults = cfg16(res, "fault_a", "faults") or {}
    fdesc = ", ".join(f"{k.replace('fault_', '')} {100 * v:g}%" for k, v in faults.items())
    rows = [
        [f"**like for like**: {slots} service slots per model (today's per-model concurrency), "
         f"provider quota {rpm:,.0f} rpm / burst {burst:g} per model" if slots else "like for like",
         f"{mk('cap_a')}; {cfig(res, 'cap_a', 'http_429', num(0))} HTTP 429; "
         f"{cfig(res, 'cap_a', 'lost_batches', num(0))} lost batches",
         f"{mk('cap_b')}; {cfig(res, 'cap_b', 'http_429', num(0))} HTTP 429{ctl('cap')}",
         f"**{gain('cap_a', 'cap_b')}**{gctl('cap')}",
         f"{cfig(res, 'cap_b', 'bound_s')} s (the slowest model's lane: n × mean latency / "
         f"{slots}); at most **{ceil('cap_a', 'cap_b')}** over today's; llmlb reaches "
         f"{cfig(res, 'cap_b', 'ceiling', pct(0))} of it"],
        ["**equal total concurrency**, 200 in flight on both sides (the backend takes any load)",
         f"{mk('eq_a')}; {cfig(res, 'eq_a', 'lost_batches', num(0))} lost batches",
         mk("eq_b") + ctl("eq"), f"**{gain('eq_a', 'eq_b')}**{gctl('eq')}",
         f"{cfig(res, 'eq_b', 'bound_s')} s (Little's law: Σ n × latency / 200); at most "
         f"**{ceil('eq_a', 'eq_b')}** over today's, whose own floor is its slowest model's "
         f"lane of 20: {cfig(res, 'eq_a', 'bound_s')} s"],
        [f"**faults** on the like-for-like backend ({fdesc})",
         f"{mk('fault_a')}; {cfig(res, 'fault_a', 'lost_batches', num(0))} lost batches; "
         f"{cfig(res, 'fault_a', 'resent', pct(1))} of calls re-sent; "
         f"{cfig(res, 'fault_a', 'unsolved', num(0))} tasks left unsolved",
         f"{mk('fault_b')}; {cfig(res, 'fault_b', 'resent', pct(1))} of calls re-sent; "
         f"{cfig(res, 'fault_b', 'failed', num(0))} tasks failed{ctl('fault')}",
         f"**{gain('fault_a', 'fault_b')}**{gctl('fault')}", ""],
    ]
    runs = sorted({len(runs_of(res.runs.get(k))) for k in names if res.has(k)})
    out = [(f"{n:,} tasks pinned round-robin to 10 models (half of the issue 6 workload, same "
            f"mix); each figure is the median (min–max) of "
            f"{' or '.join(map(str, runs))} runs:") if n else "", ""]
    out += table(["backend", "today's design: makespan s", "llmlb: makespan s",
                  "speed-up (today's makespan / llmlb's)", "ceiling: fastest possible makespan s"],
                 rows)
    ov = []
    for f in (4, 8):
        on, off = f"over{f}_on", f"over{f}_off"
        g = lambda k: (f"**{cfig(res, k, 'goodput_of_capacity', pct(0))}** of capacity "  # noqa
                       f"(whole run {cfig(res, k, 'goodput_whole_of_capacity', pct(0))}); "
                       f"{cfig(res, k, 'resent', pct(1))} re-sent; "
                       f"{cfig(res, k, 'failed', num(0))} failed")
        ok_on, ok_off = overload_verdict(res, on, True), overload_verdict(res, off, False)
        ov.append([f"limits {f}× the capacity", g(on), g(off),
                   f"on: {yes_no(ok_on)}; collapse without: {yes_no(ok_off)}"])
    out += ["", "**Overload** (llmlb alone; two models of 8 slots each, request timeout 500 ms "
            "≈ 1.5 × p99 service time; goodput while the backlog lasts):", ""]
    out += table(["", "protection on (default)", "`--no-overload-protection`",
                  "done-criteria (≥ 90% of capacity, 0 failed, < 5% re-sent; every run)"], ov)
    all_names = names + ["cap_b_noprot", "eq_b_noprot", "fault_b_noprot", "over4_on",
                         "over4_off", "over8_on", "over8_off"]
    out += ["", res.source([k for k in all_names if res.has(k)], issue16_cmd(res, "cap_a"))]
    return "\n".join(out)


@block("bn-lane", "runs.eq_a, runs.cap_a, runs.eq_b, runs.eq_b_noprot: makespan_s, bound_s, lane_20_s, little_200_s, "
       "slowest_model, slowest_done_s, mean_latency_s; config.n")
def bn_lane(res: Results) -> str:
    if not res.has("eq_a"):
        return "not measured yet"
    sm = runs_of(res.runs["eq_a"])[0].get("slowest_model", "m9")
    return (f"In the equal-total runs (`eq_a`, {cfg16(res, 'eq_a', 'n') or 0:,} tasks; median "
            f"(min–max) of {len(runs_of(res.runs['eq_a']))} runs), the "
            f"slowest model ({sm}, mean latency "
            f"{cfig(res, 'eq_a', lambda r: r['mean_latency_s'][sm], num(2))} s) needs at least "
            f"**{cfig(res, 'eq_a', 'lane_20_s')} s** in its lane of 20, while Little's law over "
            f"all 200 slots allows {cfig(res, 'eq_a', 'little_200_s')} s: today's design finished "
            f"in {cfig(res, 'eq_a', 'makespan_s')} s, llmlb, which lets {sm} use any free slot, "
            f"in {cfig(res, 'eq_b', 'makespan_s')} s ({cfig(res, 'eq_b_noprot', 'makespan_s')} s "
            f"without overload protection). With the backend itself limited to 20 "
            f"slots per model (`cap_a`, `cap_b`) the lane binds both designs: "
            f"{cfig(res, 'cap_b', 'bound_s')} s at best, today's "
            f"{cfig(res, 'cap_a', 'makespan_s')} s, llmlb {cfig(res, 'cap_b', 'makespan_s')} s "
            f"{res.note(['eq_a', 'eq_b', 'eq_b_noprot', 'cap_a', 'cap_b'], issue16_cmd(res, 'eq_a'))}")


# ---- benchmarks.md: A/B of 2026-12-01 (docs/bench/ab-2026-12-01/)

AB_COLUMNS = [
    ("cp /single, tasks/s", "cp.single.tasks_per_s", num(0)),
    ("cp batch, tasks/s", "cp.batch.tasks_per_s", num(0)),
    ("(c) of n / capacity", "d.c_utilisation", pct()),
    ("(c) of replay bound", "d.c_utilisation_replay", pct()),
    ("(u) of pooled bound", "u.utilisation", pct()),
]
AB_FULL = {"15f32ab": ["old-1", "old-2"], "82da3ab": ["new-1", "new-2"]}
AB_CP = {"15f32ab": ["cp-old-3"], "e78ce25": ["cp-i13-1", "cp-i13-2"], "82da3ab": ["cp-new-3"]}


def ab_vals(res: Results, files: list[str], path: str) -> list:
    return [v for v in (get(res.ab.get(f, {}), path) for f in files) if v is not None]


def ab_table(res: Results, groups: dict[str, list[str]], with_windows: bool) -> str:
    head = ["binary", "run"] + [c[0] for c in AB_COLUMNS]
    if with_windows:
        head.append("windows over at the backend (c, u; 1/5/60 s)")
    rows = []
    for label, files in groups.items():
        for f in files:
            r = res.ab.get(f)
            if r is None:
                continue
            ran = next(iter(r.values()))["_ran_at"][11:16]
            row = [label, f"{f} ({ran})"] + [fmt_stat(ab_vals(res, [f], p), fm)
                                             for _, p, fm in AB_COLUMNS]
            if with_windows:
                row.append("/".join(str(get(r, f"{s}.windows_over.{w}s_scaled.over"))
                                    for s in ("c", "u") for w in (1, 5, 60)))
            rows.append(row)
        row = [f"**{label}**", "median (min–max)"] + [fmt_stat(ab_vals(res, files, p), fm)
                                                      for _, p, fm in AB_COLUMNS]
        rows.append(row + ([""] if with_windows else []))
    out = table(head, rows)
    shas = {}
    for label, files in groups.items():
        for f in files:
            for s in res.ab.get(f, {}).values():
                if isinstance(s, dict) and get(s, "_binary.sha256"):
                    shas.setdefault(label, set()).add(s["_binary"]["sha256"])
    dates = sorted(s["_ran_at"] for fs in groups.values() for f in fs
                   for s in res.ab.get(f, {}).values() if isinstance(s, dict) and "_ran_at" in s)
    n = sum(len(fs) for fs in groups.values())
    out += ["", f"<sub>Source: `{AB_DIR}/` ({', '.join(f for fs in groups.values() for f in fs)}; "
            f"{n} runs); {dates[0][:16]}–{dates[-1][11:16]}; binaries built from "
            + ", ".join(f"{lab} (sha256 {', '.join(sorted(s))})" for lab, s in shas.items())
            + "; command: `.venv/bin/python -m tests.bench.ab_table LABEL=FILE,FILE ...`.</sub>"]
    return "\n".join(out)


@block("ab-2026-12-01-full",
       f"{AB_DIR}/old-1, old-2, new-1, new-2: cp.single.tasks_per_s, cp.batch.tasks_per_s, "
       "d.c_utilisation, d.c_utilisation_replay, u.utilisation, c/u windows_over")
def ab_full(res: Results) -> str:
    return ab_table(res, AB_FULL, with_windows=True)


@block("ab-2026-12-01-cp",
       f"{AB_DIR}/cp-old-3, cp-i13-1, cp-i13-2, cp-new-3: cp.single.tasks_per_s, "
       "cp.batch.tasks_per_s")
def ab_cp(res: Results) -> str:
    return ab_table(res, AB_CP, with_windows=False)


@block("ab-2026-12-01-summary",
       f"{AB_DIR}/*: cp.single.tasks_per_s, cp.single.cpu_s.postgres_db, cp.single.tasks, "
       "c/u windows_over")
def ab_summary(res: Results) -> str:
    cp = lambda files: fmt_stat(ab_vals(res, files, "cp.single.tasks_per_s"), num(0))  # noqa

    def pg(files):
        return fmt_stat([1000 * get(res.ab[f], "cp.single.cpu_s.postgres_db")
                         / get(res.ab[f], "cp.single.tasks") for f in files
                         if get(res.ab.get(f, {}), "cp.single.cpu_s.postgres_db") is not None],
                        num(3))
    over = sum(get(r, f"{s}.windows_over.{w}s_scaled.over") or 0
               for f in AB_FULL["15f32ab"] + AB_FULL["82da3ab"] for r in [res.ab.get(f, {})]
               for s in ("c", "u") for w in (1, 5, 60))
    return (f"control plane /single, tasks/s: e78ce25 (the redesign, before issue 14) "
            f"{cp(AB_CP['e78ce25'])} against {cp(AB_CP['15f32ab'])} for release 15f32ab in the "
            f"same minute; 82da3ab (with issue 14's call accounting) {cp(AB_CP['82da3ab'])} then, "
            f"{cp(AB_FULL['82da3ab'])} in the runs with other jobs on the machine; windows over "
            f"the limit at the backend in all A/B runs of (c) and (u): {over}; PostgreSQL CPU "
            f"per task in cp /single, ms: "
            + ", ".join(f"{lab} {pg(AB_FULL.get(lab, []) + AB_CP[lab])}" for lab in AB_CP))


# ---- benchmarks.md: short invocations (docs/bench/boundary-2026-12-01/)


def boundary_rows(res: Results) -> list[tuple]:
    out = []
    for stem, runs in res.boundary.items():
        c, e = runs.get("c"), runs.get("e")
        if not c or not e:
            continue
        out.append((stem, e["_ran_at"][11:16], c["throughput_per_s"], e["throughput_per_s"],
                    e["throughput_per_s"] / c["throughput_per_s"], e["abandoned_calls"],
                    e["backend_calls"], e["abandoned_calls"] / e["backend_calls"],
                    get(e, "_binary.git_head")))
    return out


@block("boundary-2026-12-01",
       f"{BOUNDARY_DIR}/run-*: c.throughput_per_s, e.throughput_per_s, e.abandoned_calls, "
       "e.backend_calls")
def boundary_table(res: Results) -> str:
    rows = boundary_rows(res)
    body = [[f"{st} ({at})", f"{c:.1f}", f"{e:.1f}", f"{100 * ra:.1f}%", f"{ab} of {calls}",
             f"{100 * sh:.2f}%"] for st, at, c, e, ra, ab, calls, sh, _ in rows]
    body.append(["**median (min–max)**", fmt_stat([r[2] for r in rows], num(1)),
                 fmt_stat([r[3] for r in rows], num(1)), fmt_stat([r[4] for r in rows], pct()),
                 fmt_stat([r[5] for r in rows], num(0)), fmt_stat([r[7] for r in rows], pct(2))])
    out = table(["run", "(c) long-running, tasks/s", "(e) short invocations, tasks/s",
                 "(e) / (c)", "abandoned calls", "of all calls"], body)
    commits = ", ".join(dict.fromkeys(r[8] for r in rows if r[8]))
    out += ["", f"<sub>Source: `{BOUNDARY_DIR}/` ({len(rows)} runs); "
            f"{res.boundary[rows[0][0]]['c']['_ran_at'][:16]}–{rows[-1][1]}; binary of commit "
            f"{commits}; command: `{run_all_cmd('c,e')} --out DIR` (three times), then "
            f"`.venv/bin/python -m tests.bench.boundary_table DIR*/results.json`.</sub>"]
    return "\n".join(out)


@block("boundary-2026-12-01-summary",
       f"{BOUNDARY_DIR}/run-*: c.throughput_per_s, e.throughput_per_s, e.abandoned_calls, "
       "e.backend_calls; results.json runs.e (abandoned_calls, backend_calls)")
def boundary_summary(res: Results) -> str:
    rows = boundary_rows(res)
    return (f"(e)'s throughput against (c)'s in the same run: "
            f"{fmt_stat([r[4] for r in rows], pct())}; share of all calls abandoned at a drain "
            f"and sent again: {fmt_stat([r[7] for r in rows], pct(2))} (before "
            f"deadline-aware claiming, run (e) of results.json: "
            f"{res.fig('e', lambda r: r['abandoned_calls'] / r['backend_calls'], pct(2))})")


# ---- benchmarks.md: token budgets (issue 17; tests/bench/tpm.py results files)


@block("tpm-2026-12-01",
       f"{TPM_DIR}/run-*: models.M (tpm, tpm_burst, tokens_at_backend, token_bound, "
       "utilisation_of_bound, max_1s, bound_1s, max_5s, bound_5s, tpm_429_at_backend, "
       "estimator.reserved/settled/error_pct/under_reserved_calls/calls)")
def tpm_table(res: Results) -> str:
    if not res.tpm:
        return "*Not measured yet.*\n"
    return render_tpm(res, list(res.tpm.items()))


def render_tpm(res: Results, runs: list[tuple[str, dict]]) -> str:
    out = table(["run", "model", "tpm / burst", "tokens at the backend / token bound",
                 "of the bound", "busiest 1 s / 5 s against their bound",
                 "429s at the backend", "reserved / settled (estimator error)",
                 "calls under-reserved"], [
        [stem, m, f"{v['tpm']} / {v['tpm_burst']}",
         f"{v['tokens_at_backend']} / {v['token_bound']}",
         pct(1)(v["utilisation_of_bound"]),
         f"{v['max_1s']} / {v['bound_1s']}, {v['max_5s']} / {v['bound_5s']}",
         str(v["tpm_429_at_backend"]),
         f"{v['estimator']['reserved']} / {v['estimator']['settled']} "
         f"({v['estimator']['error_pct']:+.1f}%)",
         f"{v['estimator']['under_reserved_calls']} of {v['estimator']['calls']}"]
        for stem, r in runs for m, v in r["models"].items()])
    shares = [v["utilisation_of_bound"] for _, r in runs for v in r["models"].values()]
    out.append(f"| **all runs and models** | | | | **{fmt_stat(shares, pct(1))}** | | | | |")
    commits = sorted({str(get(r, "_binary.git_head")) for _, r in runs})
    dates = sorted(str(r.get("_ran_at")) for _, r in runs)
    out.append("")
    out.append(f"<sub>Source: `{TPM_DIR}/run-*.json` ({len(runs)} runs); {dates[0][:16]}–"
               f"{dates[-1][11:16]}; binary of commit {', '.join(commits)}; command: "
               f"`nice .venv/bin/python -m tests.bench.tpm --run N --out {TPM_DIR}/run-N.json`."
               "</sub>")
    return "\n".join(out) + "\n"


@block("tpm-2026-12-01-summary",
       f"{TPM_DIR}/run-*: models.M.utilisation_of_bound, max_1s/bound_1s, max_5s/bound_5s, "
       "estimator.error_pct, estimator.under_reserved_calls/calls, tpm_429_at_backend")
def tpm_summary(res: Results) -> str:
    ms = [v for r in res.tpm.values() for v in r["models"].values()]
    if not ms:
        return "*Not measured yet.*"
    over = sum(1 for v in ms if v["max_1s"] > v["bound_1s"] or v["max_5s"] > v["bound_5s"])
    errs = [v["estimator"]["error_pct"] / 100 for v in ms]
    under = [v["estimator"]["under_reserved_calls"] / v["estimator"]["calls"] for v in ms
             if v["estimator"]["calls"]]
    refused = [v["tpm_429_at_backend"] for v in ms]
    return (f"the backend received {fmt_stat([v['utilisation_of_bound'] for v in ms], pct(1))} "
            f"of the token bound (runs × models); 1 s and 5 s windows over "
            f"`tpm × W / 60 + burst`: {over}; reserved against settled: "
            f"{fmt_stat(errs, lambda x: f'{100 * x:+.0f}%')}; calls that took more than they "
            f"reserved: {fmt_stat(under, pct(1))}; calls the backend's own quota refused: "
            f"{fmt_stat(refused, num(0))} per model and run")


# ---- benchmarks.md: lab detail


@block("machine",
       "machine (cpus, mem_gib, platform, python); runs.* (_ran_at, _binary, load, cpu_s of c)")
def machine(res: Results) -> str:
    m = res.machine
    default = [n for n in ("a", "b", "c", "d", "u", "e", "e_sync", "arr_a", "arr_b", "cp", "mem",
                           "start") if res.has(n)]
    when, commits, _ = res.provenance(default)
    loads = [ld["load1"] for n in default for r in runs_of(res.runs.get(n))
             for ld in (r.get("load") if isinstance(r.get("load"), list) else [])]
    lines = [
        f"- {m.get('cpus', MISSING)} vCPUs, {m.get('mem_gib', MISSING)} GiB, "
        f"`{m.get('platform', MISSING)}`, Python {m.get('python', MISSING)} (from "
        f"`results.json`'s `machine`).",
        f"- The default set: {when}, binary of commit {commits}; 1-minute load average before "
        f"and after each run {fmt_stat(loads, num(2))} (per run in `results.md`).",
        f"- CPU of run (c) ({res.fig('c', 'cpu_s.wall')} s): PostgreSQL "
        f"{res.fig('c', 'cpu_s.postgres_db')} s, backend {res.fig('c', 'cpu_s.backend')} s, "
        f"llmlb {res.fig('c', 'cpu_s.llmlb')} s of CPU; the machine was "
        f"{res.fig('c', lambda r: r['cpu_s']['machine_busy'] / r['cpu_s']['machine_total'], pct(0))}"
        f" busy.",
        "", res.source(default, ".venv/bin/python -m tests.bench.run_all")]
    return "\n".join(lines)


ISSUE6 = [("(a) today's design", "a"), ("(b) llmlb 4 × 50, limits not binding", "b"),
          ("(b) same, time scale 0.3 (`b_slow`)", "b_slow"),
          ("(c) llmlb 4 × 100, binding limits", "c"), ("(c) same, burst 5 (`c_b5`)", "c_b5"),
          ("(e) llmlb, staggered invocations", "e"), ("(e) llmlb, synchronized DAG runs", "e_sync"),
          ("(u) llmlb 4 × 100, unpinned, limits of (c)", "u")]


@block("issue6-runs",
       "runs.a, b, b_slow, c, c_b5, e, e_sync, u: makespan_s, makespan_unscaled_s, "
       "throughput_per_s, bound.bound_s, wait.p50_s, wait.p95_s, wait.p50_unscaled_s, "
       "wait.p95_unscaled_s, windows_over, calls_log_windows_over; runs.d (replay.bound_s, "
       "c_utilisation, c_utilisation_replay); runs.u.utilisation")
def issue6_runs(res: Results) -> str:
    rows = []
    for label, n in ISSUE6:
        if not res.has(n):
            continue
        speed = (res.ratio("a", "makespan_unscaled_s", n, "makespan_unscaled_s")
                 if n not in ("a", "u") else ("1" if n == "a" else "– ⁴"))
        bound = res.fig(n, "bound.bound_s")
        util = res.fig(n, lambda r: r["bound"]["bound_s"] / r["makespan_s"], pct())
        if n in ("a", "b", "b_slow"):
            bound += " ¹"
        if n == "c":
            bound += f" (d); replay {res.fig('d', 'replay.bound_s')}"
            util = (f"**{res.fig('d', 'c_utilisation', pct())}**; replay "
                    f"**{res.fig('d', 'c_utilisation_replay', pct())}**")
        if n == "u":
            bound += " (pooled)"
            util = f"**{res.fig('u', 'utilisation', pct())}**"
        be, log = windows_fig(res, n), windows_fig(res, n, "log")
        if n == "a":
            be += " ²"
        if n in ("b", "b_slow"):
            be, log = "– ³", "– ³"
        rows.append([label, f"{res.fig(n, 'makespan_s')} ({res.fig(n, 'makespan_unscaled_s', num(0))})",
                     res.fig(n, "throughput_per_s"), speed, bound, util,
                     f"{res.fig(n, 'wait.p50_s')} / {res.fig(n, 'wait.p95_s')} "
                     f"({res.fig(n, 'wait.p50_unscaled_s', num(0))} / "
                     f"{res.fig(n, 'wait.p95_unscaled_s', num(0))})", be, log])
    out = table(["run", "makespan s (unscaled)", "tasks/s", "speed-up vs (a)", "bound s",
                 "bound / makespan", "wait p50 / p95 s (unscaled)",
                 "windows over 1/5/60 s: backend", "call log"], rows)
    out += ["", f"¹ Little's law at 200 calls in flight (`b_slow`: the same at its own time "
            f"scale): Σ n_i L_i / 200 with the latencies the backend applied. Today's design "
            f"cannot beat it either, so **{res.ratio('a', 'makespan_s', 'a', 'bound.bound_s')} "
            f"({res.fig('a', 'makespan_s')} / {res.fig('a', 'bound.bound_s')}) is the most any "
            f"design can gain over (a) at equal concurrency** on this workload. ² Against the "
            f"limits of (c), for comparison; today's design has no limits. ³ Limits not binding. "
            f"⁴ A different workload (unpinned, {res.fig('u', 'tasks', num(0))} tasks).",
            "", res.source([n for _, n in ISSUE6] + ["d"], run_all_cmd("a,b,c,d,u,e,e_sync")
                           + " (`b_slow`, `c_b5`: `--only b_slow,c_b5`)")]
    return "\n".join(out)


@block("a-run", "runs.a: legacy.cycles (length_s, fetched, solved, timed_out_workers, "
       "lost_in_flight, first_worker_done_s, start_rel_s), legacy.restart_gap_s, makespan_s, "
       "makespan_unscaled_s")
def a_run(res: Results) -> str:
    rs = runs_of(res.runs.get("a"))
    if not rs:
        return "not measured yet"
    cyc = lambda i, k, f=num(1): res.fig("a", lambda r: r["legacy"]["cycles"][i][k], f)  # noqa
    return (f"cycle 1 lasted {cyc(0, 'length_s')} s; {cyc(0, 'timed_out_workers', num(0))} "
            f"workers hit the timeout and lost {cyc(0, 'lost_in_flight', num(0))} tasks in "
            f"flight; {cyc(0, 'solved', num(0))} solved. Cycle 2 started "
            f"{res.fig('a', 'legacy.restart_gap_s')} s later with the "
            f"{cyc(1, 'fetched', num(0))} left and took {cyc(1, 'length_s')} s (its first worker "
            f"was done after {cyc(1, 'first_worker_done_s')} s). Makespan "
            f"{res.fig('a', 'makespan_s')} s = {res.fig('a', 'makespan_unscaled_s', num(0))} s "
            f"real {res.note(['a'], run_all_cmd('a'))}")


@block("b-run", "runs.b: makespan_s, bound.bound_s, cpu_s.postgres_db, replay_bound; runs.a "
       "makespan_s; runs.b_slow: makespan_s, bound.bound_s")
def b_run(res: Results) -> str:
    return (f"{res.fig('b', 'makespan_s')} s, {res.ratio('a', 'makespan_s', 'b', 'makespan_s')} "
            f"faster than (a), {res.fig('b', lambda r: r['bound']['bound_s'] / r['makespan_s'], pct(0))}"
            f" of the Little bound; PostgreSQL used {res.fig('b', 'cpu_s.postgres_db')} s of CPU "
            f"in the run. `b_slow` (time scale 0.3, an older binary, under load): "
            f"{res.fig('b_slow', 'makespan_s', num(0))} s, "
            f"{res.fig('b_slow', lambda r: r['bound']['bound_s'] / r['makespan_s'], pct(0))} of "
            f"its bound {res.note(['b', 'b_slow'], run_all_cmd('b'))}")


@block("d-bounds", "runs.d: bound_s, pooled_bound_s, c_makespan_s, c_utilisation, replay.bound_s, "
       "c_utilisation_replay, per_model")
def d_bounds(res: Results) -> str:
    binding = res.runs.get("d") and max(
        runs_of(res.runs["d"])[0]["per_model"].items(), key=lambda kv: kv[1]["time_s"])[0]
    rep = runs_of(res.runs.get("d"))
    rmodel = (max(rep[0]["replay"]["per_model_s"].items(), key=lambda kv: kv[1])[0]
              if rep and "replay" in rep[0] else MISSING)
    return (f"n / capacity: bound **{res.fig('d', 'bound_s')} s** ({binding}); the pooled "
            f"N / Σ capacity_i, a bound for unpinned work only, is "
            f"{res.fig('d', 'pooled_bound_s')} s. Replay: bound **{res.fig('d', 'replay.bound_s')}"
            f" s** ({rmodel}). Run (c) took {res.fig('d', 'c_makespan_s')} s → "
            f"**{res.fig('d', 'c_utilisation', pct())}** of n / capacity, "
            f"**{res.fig('d', 'c_utilisation_replay', pct())}** of the replay "
            f"{res.note(['c', 'd'], run_all_cmd('c,d'))}")


@block("c-per-model",
       "runs.c.models.mN (calls, achieved_rpm, target_rpm, mean_latency_s, llmlb_http_s, "
       "send_to_release_s, done_s, windows.{1,5,60}s_scaled.{max,limit,over}), "
       "runs.c.bound.per_model.mN.time_s, runs.c.replay_bound.per_model_s.mN")
def c_per_model(res: Results) -> str:
    rows = []
    for m in MODELS:
        mm = lambda k, f=num(3): res.fig("c", lambda r: r["models"][m][k], f)  # noqa

        def win(r, s, m=m):
            w = r["models"][m]["windows"][f"{s}s_scaled"]
            return f"{w['max']} ({w['limit']:g})"
        cells = "; ".join(" / ".join(win(r, s) for s in (1, 5, 60))
                          for r in runs_of(res.runs.get("c")))
        over = "; ".join(" / ".join(str(r["models"][m]["windows"][f"{s}s_scaled"]["over"])
                                    for s in (1, 5, 60)) for r in runs_of(res.runs.get("c")))
        rows.append([m, mm("calls", num(0)), mm("achieved_rpm", num(1)), mm("target_rpm", num(0)),
                     mm("mean_latency_s"), mm("llmlb_http_s"), mm("send_to_release_s"),
                     res.fig("c", lambda r: r["bound"]["per_model"][m]["time_s"], num(2)),
                     res.fig("c", lambda r: r["replay_bound"]["per_model_s"][m], num(2)),
                     mm("done_s", num(2)), cells, over])
    out = table(["model", "calls", "achieved rpm", "target rpm", "backend latency s",
                 "llmlb HTTP s", "send→release s", "n / capacity s", "ideal s", "last answer s",
                 "max in 1 s / 5 s / 60 s scaled window (limit)", "over"], rows)
    out += ["", res.source(["c"], run_all_cmd("c,d"))]
    return "\n".join(out)


@block("c-b5", "runs.c_b5: makespan_s, bound.bound_s, models.mN.achieved_rpm, target_rpm")
def c_b5(res: Results) -> str:
    def rate_range(r):
        fr = [r["models"][m]["achieved_rpm"] / r["models"][m]["target_rpm"] for m in MODELS
              if r["bound"]["per_model"][m]["binds"] == "rpm"]
        return min(fr), max(fr)
    rs = runs_of(res.runs.get("c_b5"))
    if not rs:
        return "not measured yet"
    lo, hi = rate_range(rs[0])
    return (f"{res.fig('c_b5', lambda r: r['bound']['bound_s'] / r['makespan_s'], pct())} of "
            f"n / capacity, the rate-bound models {100 * lo:.0f}–{100 * hi:.0f}% of their rpm "
            f"{res.note(['c_b5'], run_all_cmd('c_b5'))}")


@block("u-run", "runs.u: tasks, bound.capacity_per_s, bound.inflight_needed, bound.bound_s, "
       "makespan_s, utilisation, backlog_phase.*, delivery_delay.over_150ms, backend_calls, "
       "cpu_s, windows_over, calls_log_windows_over")
def u_run(res: Results) -> str:
    u = lambda k, f=num(1): res.fig("u", k, f)  # noqa
    return (f"{u('tasks', num(0))} unpinned tasks (Σ capacity {u('bound.capacity_per_s')} calls/s;"
            f" running every model at capacity needs {u('bound.inflight_needed')} calls in flight,"
            f" the processes allow 400). Bound {u('bound.bound_s')} s; makespan "
            f"{u('makespan_s')} s → **{u('utilisation', pct())}**. Until the last call reached "
            f"the backend ({u('backlog_phase.last_call_s')} s), "
            f"{u('backlog_phase.calls_per_s')} calls/s: "
            f"**{u('backlog_phase.rate_utilisation', pct())} of the summed capacity**; the last "
            f"answers came {u('backlog_phase.drain_s')} s later. Windows over the limit: "
            f"{windows_fig(res, 'u', 'log')} on llmlb's call log, {windows_fig(res, 'u')} at the "
            f"backend (at most {u('windows_over.5s_scaled.max_excess', num(1))} calls over); "
            f"{u('delivery_delay.over_150ms', num(0))} of the "
            f"{u('backend_calls', num(0))} calls reached the backend more than 150 ms (the "
            f"bucket's hold-back) after their claim. The machine was "
            f"{u(lambda r: r['cpu_s']['machine_busy'] / r['cpu_s']['machine_total'], pct(0))} "
            f"busy: PostgreSQL {u('cpu_s.postgres_db', num(0))} CPU-s, llmlb "
            f"{u('cpu_s.llmlb', num(0))}, the backend {u('cpu_s.backend', num(0))} in "
            f"{u('cpu_s.wall', num(0))} s {res.note(['u'], run_all_cmd('u'))}")


@block("e-boundaries",
       "runs.e, runs.e_sync: boundaries.calls.dip, boundaries.calls.profile_dip, "
       "boundaries.answers.profile_dip, llmlb.released, makespan_s, bound.bound_s, "
       "llmlb.invocations, boundaries.boundaries")
def e_boundaries(res: Results) -> str:
    rows = []
    for label, n in (("e (staggered)", "e"), ("e_sync (DAG runs)", "e_sync")):
        rows.append([label, res.fig(n, "llmlb.invocations", num(0)),
                     res.fig(n, "boundaries.boundaries", num(0)),
                     res.fig(n, "boundaries.calls.dip", pct()),
                     "**" + res.fig(n, "boundaries.calls.profile_dip", pct()) + "**",
                     res.fig(n, "boundaries.answers.profile_dip", pct()),
                     res.fig(n, "llmlb.released", num(0)),
                     f"{res.fig(n, 'makespan_s')} s "
                     f"({res.fig(n, lambda r: r['bound']['bound_s'] / r['makespan_s'], pct())} of "
                     f"n / capacity)"])
    out = table(["run", "invocations", "boundaries (steady part)", "calls: window dip",
                 "calls: aligned dip", "answers: aligned dip",
                 "calls released at the drain timeout", "makespan"], rows)
    out += ["", res.source(["e", "e_sync"], run_all_cmd("e,e_sync"))]
    return "\n".join(out)


def arrivals_table(res: Results, labels: tuple[str, str]) -> str:
    rows = []
    for label, n in zip(labels, ("arr_a", "arr_b")):
        rows.append([label, f"{res.fig(n, 'wait.p50_s', num(2))} s "
                            f"({res.fig(n, 'wait.p50_unscaled_s', num(0))} s real)",
                     f"{res.fig(n, 'wait.p95_s', num(1))} s "
                     f"({res.fig(n, 'wait.p95_unscaled_s', num(0))} s real)",
                     f"{res.fig(n, 'wait.max_s', num(1))} s"])
    out = table(["", "p50", "p95", "max"], rows)
    out += ["", res.source(["arr_a", "arr_b"], run_all_cmd("arr_a,arr_b"))]
    return "\n".join(out)


@block("arrivals", "runs.arr_a, runs.arr_b: wait.p50_s, wait.p95_s, wait.max_s, "
       "wait.p50_unscaled_s, wait.p95_unscaled_s")
def arrivals(res: Results) -> str:
    return arrivals_table(res, ("today's design", "llmlb"))


@block("cp-cpu", "runs.cp.single: tasks, makespan_s, cpu_s (postgres_db, llmlb, backend, "
       "machine_busy, machine_total)")
def cp_cpu(res: Results) -> str:
    s = lambda k, f=num(1): res.fig("cp", "single." + k, f)  # noqa
    per = lambda k: res.fig("cp", lambda r: r["single"]["cpu_s"][k] / r["single"]["tasks"] * 1000,  # noqa
                            num(2))
    return (f"{s('tasks', num(0))} tasks in {s('makespan_s')} s: PostgreSQL "
            f"{s('cpu_s.postgres_db')} s, llmlb {s('cpu_s.llmlb')} s, backend "
            f"{s('cpu_s.backend')} s of CPU — per task {per('postgres_db')} ms in PostgreSQL, "
            f"{per('llmlb')} ms in llmlb, {per('backend')} ms in the backend; the machine's CPUs "
            f"were {res.fig('cp', lambda r: r['single']['cpu_s']['machine_busy'] / r['single']['cpu_s']['machine_total'], pct(0))}"
            f" busy {res.note(['cp'], run_all_cmd('cp'))}")


# ---- bottlenecks.md


def worst_burst(res: Results) -> tuple[str, str]:
    """The model of run (a) whose 1 s scaled window went furthest over (c)'s limit: its maximum
    count and its limit, as figures."""
    def worst(r):
        return max((r["models"][m]["windows"]["1s_scaled"] for m in MODELS),
                   key=lambda w: w["max"] - w["limit"])
    return (res.fig("a", lambda r: worst(r)["max"], num(0)),
            res.fig("a", lambda r: worst(r)["limit"], num(1)))


def slot_share(res: Results, key: str, f=pct(1)) -> str:
    return res.fig("a", lambda r: r["legacy"][key] / r["legacy"]["slot_s_total"], f)


@block("bn-intro", "runs.a: makespan_s, makespan_unscaled_s, legacy.slot_s_total, "
       "legacy.slot_s_waiting_for_slowest, legacy.slot_s_idle_after_split, "
       "legacy.slot_s_restart_gaps, legacy.lost_at_timeout_slot_s; runs.b: makespan_s, "
       "makespan_unscaled_s")
def bn_intro(res: Results) -> str:
    a = runs_of(res.runs.get("a"))
    useful = lambda r: (r["legacy"]["slot_s_total"] - r["legacy"]["slot_s_waiting_for_slowest"]  # noqa
                        - r["legacy"]["slot_s_idle_after_split"] - r["legacy"]["slot_s_restart_gaps"]
                        - r["legacy"]["lost_at_timeout_slot_s"])
    return (f"Run (a), today's design: **{res.fig('a', 'makespan_s')} s "
            f"({res.fig('a', 'makespan_unscaled_s', num(0))} s real)** for "
            f"{res.fig('a', 'tasks', num(0))} tasks; run (b), llmlb at the same 200 calls in "
            f"flight: **{res.fig('b', 'makespan_s')} s "
            f"({res.fig('b', 'makespan_unscaled_s', num(0))} s)**, "
            f"{res.ratio('a', 'makespan_s', 'b', 'makespan_s')}. Of (a)'s "
            f"{res.fig('a', 'legacy.slot_s_total', num(0))} slot-seconds (200 slots × the "
            f"makespan), {res.fig('a', useful, num(0))} "
            f"({res.fig('a', lambda r: useful(r) / r['legacy']['slot_s_total'], pct(0))}) were "
            f"left for calls that were not waiting for another item of their batch, a split, a "
            f"restart gap or a timeout" + (f" {res.note(['a', 'b'], run_all_cmd('a,b'))}" if a
                                           else ""))


@block("bn-table", "runs.eq_a (lane_20_s, little_200_s, makespan_s), runs.eq_b makespan_s; "
       "runs.a.legacy: slot_s_waiting_for_slowest, batch_efficiency, "
       "slot_s_idle_after_split, cycles[1].length_s, cycles[1].first_worker_done_s, "
       "restart_gap_total_s, slot_s_restart_gaps, lost_at_timeout_items, lost_at_timeout_slot_s, "
       "backend_items_sent, cycles[0].left_unsent, slot_s_total; runs.a windows_over; "
       "runs.a.models.mN.windows.1s_scaled; runs.arr_a / arr_b wait; runs.e "
       "boundaries.calls.profile_dip; calls_log_windows_over of b, c, e, e_sync, arr_b, u")
def bn_table(res: Results) -> str:
    L = lambda k, f=num(0): res.fig("a", "legacy." + k, f)  # noqa
    cyc = lambda i, k: res.fig("a", lambda r: r["legacy"]["cycles"][i][k])  # noqa
    maxw, lim = worst_burst(res)
    logs = [n for n in ("b", "c", "e", "e_sync", "arr_b", "u") if res.has(n)]
    log_over = sum(v for n in logs for r in runs_of(res.runs[n])
                   for v in (r.get("calls_log_windows_over") or {}).values())
    rows = [
        ["waiting for the slowest call of a batch",
         f"{L('slot_s_waiting_for_slowest')} slot-s = **{slot_share(res, 'slot_s_waiting_for_slowest', pct(0))}"
         f" of all slot time**; a batch's useful share {L('batch_efficiency', pct())}",
         "0: a slot is freed when its own call ends"],
        ["the slowest model's fixed lane of 20",
         f"measured in `eq_a` ({cfg16(res, 'eq_a', 'n') or 0:,} tasks): its slowest model needs "
         f"**{res.fig('eq_a', 'lane_20_s')} s** in its 20 slots against "
         f"{res.fig('eq_a', 'little_200_s')} s for the whole workload on all 200; makespan "
         f"{res.fig('eq_a', 'makespan_s')} s",
         f"the slowest model uses any free slot: `eq_b` {res.fig('eq_b', 'makespan_s')} s "
         f"(`eq_b_noprot`, without overload protection: {res.fig('eq_b_noprot', 'makespan_s')} s)"],
        ["equal pre-split",
         f"{L('slot_s_idle_after_split')} slot-s ({slot_share(res, 'slot_s_idle_after_split')}); "
         f"cycle 2 lasted {cyc(1, 'length_s')} s, its first worker was done after "
         f"{cyc(1, 'first_worker_done_s')} s", "no split: each process claims as slots free up"],
        ["DAG restart gap",
         f"{L('restart_gap_total_s', num(1))} s with all 200 slots idle = "
         f"{L('slot_s_restart_gaps')} slot-s ({slot_share(res, 'slot_s_restart_gaps')})",
         "processes run continuously; staggered invocations: aligned dip "
         f"{res.fig('e', 'boundaries.calls.profile_dip', pct())} (e)"],
        ["work lost at the 30-minute timeout",
         f"{res.fig('a', lambda r: r['legacy']['cycles'][0]['timed_out_workers'], num(0))} "
         f"workers timed out: {L('lost_at_timeout_items')} calls lost "
         f"({res.fig('a', lambda r: r['legacy']['lost_at_timeout_items'] / r['legacy']['backend_items_sent'], pct())}"
         f" of calls, {L('lost_at_timeout_slot_s')} slot-s), "
         f"{res.fig('a', lambda r: r['legacy']['cycles'][0]['left_unsent'], num(0))} tasks unsent "
         f"until the next run",
         "no wall-clock kill of work; leases are renewed; a stopping process drains, then "
         "releases"],
        ["tasks arriving mid-cycle",
         f"their wait p50 {res.fig('arr_a', 'wait.p50_s')} s / p95 {res.fig('arr_a', 'wait.p95_s')}"
         f" s ({res.fig('arr_a', 'wait.p50_unscaled_s', num(0))} s / "
         f"{res.fig('arr_a', 'wait.p95_unscaled_s', num(0))} s real)",
         f"p50 {res.fig('arr_b', 'wait.p50_s', num(2))} s / p95 {res.fig('arr_b', 'wait.p95_s')} s"
         f" ({res.fig('arr_b', 'wait.p50_unscaled_s', num(0))} s / "
         f"{res.fig('arr_b', 'wait.p95_unscaled_s', num(0))} s real)"],
        ["uncontrolled per-model bursts",
         f"up to {maxw} calls of one model within 75 ms (that model's limit in (c): {lim}); "
         f"{res.fig('a', 'windows_over.1s_scaled.over', num(0))} windows over",
         f"{log_over} windows over on llmlb's call log in runs {', '.join(logs)}"],
    ]
    out = table(["bottleneck", "cost in run (a)", "llmlb"], rows)
    out += ["", res.source(["a", "eq_a", "eq_b", "arr_a", "arr_b", "e"] + logs,
                           run_all_cmd("a,b,c,u,e,e_sync,arr_a,arr_b"))]
    return "\n".join(out)


@block("bn-slowest", "runs.a.legacy: batch_requests, batch_efficiency, slot_s_waiting_for_slowest, "
       "slot_s_total; runs.a throughput_per_s; runs.b throughput_per_s, bound.bound_s; runs.a "
       "makespan_s")
def bn_slowest(res: Results) -> str:
    L = lambda k, f=num(0): res.fig("a", "legacy." + k, f)  # noqa
    return (f"{L('batch_requests')} batches, **{L('batch_efficiency', pct())} batch efficiency**: "
            f"{L('slot_s_waiting_for_slowest')} slot-seconds were spent waiting for another item "
            f"of the batch — {slot_share(res, 'slot_s_waiting_for_slowest', pct(0))} of all the "
            f"slot time of the run, while {res.fig('a', 'throughput_per_s', num(0))} tasks/s "
            f"were answered. At the same 200 in flight, llmlb (b) answered "
            f"{res.fig('b', 'throughput_per_s', num(0))} tasks/s "
            f"({res.ratio('a', 'makespan_s', 'b', 'makespan_s')}), and its ceiling here — Little's"
            f" law, Σ latency / 200 = {res.fig('b', 'bound.bound_s')} s — is "
            f"{res.ratio('a', 'makespan_s', 'b', 'bound.bound_s')} faster than (a) "
            f"{res.note(['a', 'b'], run_all_cmd('a,b'))}")


@block("bn-split", "runs.a.legacy.cycles[1] (fetched, length_s, first_worker_done_s, "
       "idle_slot_s_after_split), slot_s_idle_after_split, slot_s_total; runs.arr_a.legacy.cycles")
def bn_split(res: Results) -> str:
    c2 = lambda k, f=num(1): res.fig("a", lambda r: r["legacy"]["cycles"][1][k], f)  # noqa
    arr = runs_of(res.runs.get("arr_a"))
    arr_txt = "; ".join(f"first worker done after {c['first_worker_done_s']:.1f} s of "
                        f"{c['length_s']:.1f} s" for r in arr for c in r["legacy"]["cycles"])
    return (f"In run (a), cycle 2 ({c2('fetched', num(0))} tasks): the first worker was done "
            f"after {c2('first_worker_done_s')} s, the run lasted {c2('length_s')} s; "
            f"{c2('idle_slot_s_after_split', num(0))} slot-seconds idle "
            f"({slot_share(res, 'slot_s_idle_after_split')} of the whole run; cycle 1 ended by "
            f"the timeout for everyone). In the arrivals run the same happened in each of its "
            f"cycles ({arr_txt or MISSING}) {res.note(['a', 'arr_a'], run_all_cmd('a,arr_a'))}")


@block("bn-gap", "runs.a.legacy: restart_gap_total_s, slot_s_restart_gaps, slot_s_total; "
       "runs.e / e_sync boundaries.calls.profile_dip, boundaries.answers.profile_dip")
def bn_gap(res: Results) -> str:
    return (f"in run (a) the gap took {res.fig('a', 'legacy.restart_gap_total_s')} s "
            f"({res.fig('a', lambda r: r['legacy']['restart_gap_total_s'] / r['time_scale'], num(0))}"
            f" s real) with all 200 slots idle, {res.fig('a', 'legacy.slot_s_restart_gaps', num(0))}"
            f" slot-seconds ({slot_share(res, 'slot_s_restart_gaps')}). With staggered slots (e)"
            f" the boundary-aligned throughput dip was "
            f"{res.fig('e', 'boundaries.calls.profile_dip', pct())} of calls "
            f"({res.fig('e', 'boundaries.answers.profile_dip', pct())} of answers); with "
            f"synchronized runs (e_sync) it was "
            f"{res.fig('e_sync', 'boundaries.calls.profile_dip', pct(0))} "
            f"{res.note(['a', 'e', 'e_sync'], run_all_cmd('a,e,e_sync'))}")


@block("bn-timeout", "runs.a.legacy: lost_at_timeout_items, backend_items_sent, "
       "lost_at_timeout_slot_s, cycles[0].left_unsent, cycles[0].timed_out_workers; runs.a "
       "makespan_s, makespan_unscaled_s; runs.e: llmlb.released, backend_calls, models")
def bn_timeout(res: Results) -> str:
    L = lambda k, f=num(0): res.fig("a", "legacy." + k, f)  # noqa
    return (f"{res.fig('a', lambda r: r['legacy']['cycles'][0]['timed_out_workers'], num(0))} "
            f"of 20 workers hit the timeout: the {L('lost_at_timeout_items')} calls they had in "
            f"flight were lost (sent, paid for, never written: "
            f"{res.fig('a', lambda r: r['legacy']['lost_at_timeout_items'] / r['legacy']['backend_items_sent'], pct())}"
            f" of the {L('backend_items_sent')} calls sent, {L('lost_at_timeout_slot_s')} "
            f"slot-seconds), and the "
            f"{res.fig('a', lambda r: r['legacy']['cycles'][0]['left_unsent'], num(0))} tasks "
            f"they had not reached waited for the next run: the last answers came at "
            f"{res.fig('a', 'makespan_s')} s ({res.fig('a', 'makespan_unscaled_s', num(0))} s "
            f"real). In (e), {res.fig('e', 'llmlb.released', num(0))} calls of "
            f"{res.fig('e', 'backend_calls', num(0))} were released at a drain timeout and sent "
            f"again {res.note(['a', 'e'], run_all_cmd('a,e'))}")


@block("bn-arrivals", "runs.arr_a, runs.arr_b: wait.p50_s, wait.p95_s, wait.max_s, "
       "wait.p50_unscaled_s, wait.p95_unscaled_s")
def bn_arrivals(res: Results) -> str:
    return arrivals_table(res, ("today's design (`arr_a`)", "llmlb, 4 × 50 (`arr_b`)"))


@block("bn-bursts", "runs.a.models.mN.windows (1s_scaled, 5s_scaled: max, limit, over), "
       "runs.a.windows_over; runs.c windows_over, delivery_delay; calls_log_windows_over of b, "
       "c_b5, c, e, e_sync, arr_b, u")
def bn_bursts(res: Results) -> str:
    maxw, lim = worst_burst(res)
    logs = [n for n in ("b", "c", "c_b5", "e", "e_sync", "arr_b", "u") if res.has(n)]
    log_over = sum(v for n in logs for r in runs_of(res.runs[n])
                   for v in (r.get("calls_log_windows_over") or {}).values())
    return (f"the arrival log of run (a) has a maximum of **{maxw} calls of one model in a 75 ms "
            f"window (1 s real) against its limit of {lim}**, and "
            f"{res.fig('a', 'windows_over.1s_scaled.over', num(0))} such windows over the limit, "
            f"{res.fig('a', 'windows_over.5s_scaled.over', num(0))} in 375 ms (5 s real) windows. "
            f"On llmlb's call log (`sent_at`), windows over the limit in runs {', '.join(logs)}: "
            f"{log_over}. At the backend, run (c): {windows_fig(res, 'c')} over 1 s / 5 s / 60 s "
            f"scaled windows, with requests reaching the backend up to "
            f"{res.fig('c', 'delivery_delay.max_ms', num(0))} ms after their claim (p99 "
            f"{res.fig('c', 'delivery_delay.p99_ms', num(0))} ms) "
            f"{res.note(['a', 'c'] + logs, run_all_cmd('a,b,c,e,e_sync,arr_b,u'))}")


@block("bn-llmlb", "runs.b, runs.c, runs.u: cpu_s.postgres_db, cpu_s.wall, db.xact_commit, tasks; "
       "runs.c.models.m9 (mean_latency_s, llmlb_http_s, send_to_release_s); runs.d "
       "c_utilisation_replay; runs.c_b5; runs.start median_ms")
def bn_llmlb(res: Results) -> str:
    pg = lambda n: (f"{res.fig(n, 'cpu_s.postgres_db', num(0))} s of CPU in "  # noqa
                    f"{res.fig(n, 'cpu_s.wall', num(0))} s, "
                    f"{res.fig(n, lambda r: r['cpu_s']['postgres_db'] / r['tasks'] * 1000, num(2))}"
                    f" ms per task")
    m9 = lambda k: res.fig("c", lambda r: r["models"]["m9"][k], num(3))  # noqa
    return (f"PostgreSQL: (b) {pg('b')}; (c) {pg('c')}; (u) {pg('u')}. Run (c), m9: backend "
            f"latency {m9('mean_latency_s')} s, llmlb's HTTP time {m9('llmlb_http_s')} s, send → "
            f"lease released {m9('send_to_release_s')} s; (c) reached "
            f"{res.fig('d', 'c_utilisation_replay', pct())} of the replay bound "
            f"{res.note(['b', 'c', 'd', 'u'], run_all_cmd('b,c,d,u'))}")


# --------------------------------------------------------------------------- rewriting

START = re.compile(r"<!-- generated: ([A-Za-z0-9_.-]+) \(" + re.escape(TOOL)
                   + r"; do not edit\) -->")


def start_marker(name: str) -> str:
    return f"<!-- generated: {name} ({TOOL}; do not edit) -->"


def end_marker(name: str) -> str:
    return f"<!-- end generated: {name} -->"


class DocError(Exception):
    pass


def render_text(text: str, res: Results, blocks: dict[str, Callable[[Results], str]] = None) -> str:
    """text with every generated block re-rendered. A block whose start and end markers are on
    one line stays inline (its body must be one line)."""
    blocks = BLOCKS if blocks is None else blocks
    out, pos = [], 0
    for m in START.finditer(text):
        if m.start() < pos:
            continue
        name = m.group(1)
        end = text.find(end_marker(name), m.end())
        if end < 0:
            raise DocError(f"block {name}: no `{end_marker(name)}`")
        if name not in blocks:
            raise DocError(f"block {name}: unknown (known: {', '.join(sorted(blocks))})")
        body = blocks[name](res).strip("\n")
        inline = "\n" not in text[m.end():end]
        if inline:
            if "\n" in body:
                raise DocError(f"block {name}: inline markers, but the body has several lines")
            new = body
        else:
            new = "\n" + body + "\n"
        out.append(text[pos:m.end()])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def block_names(text: str) -> list[str]:
    return [m.group(1) for m in START.finditer(text)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Render the figure blocks of docs/benchmarks.md and "
                                "docs/bottlenecks.md from docs/bench/*.json")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 and print a unified diff if a block is stale")
    p.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    p.add_argument("--list", action="store_true", help="list the blocks and the keys they use")
    a = p.parse_args(argv)
    if a.list:
        for name, keys in BLOCK_KEYS.items():
            print(f"{name}: {keys}")
        return 0
    res = Results.load(a.root)
    stale = False
    used = set()
    for doc in DOCS:
        path = a.root / doc
        old = path.read_text()
        used.update(block_names(old))
        try:
            new = render_text(old, res)
        except DocError as e:
            print(f"{doc}: {e}", file=sys.stderr)
            return 2
        if new == old:
            continue
        if a.check:
            stale = True
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=f"{doc} (committed)", tofile=f"{doc} (rendered from results)"))
        else:
            path.write_text(new)
            print(f"rewrote {doc}")
    unused = sorted(set(BLOCKS) - used)
    if unused:
        print(f"blocks not placed in any doc: {', '.join(unused)}", file=sys.stderr)
        return 2 if a.check else 0
    if stale:
        print("\ndocs differ from the results: run .venv/bin/python -m tests.bench.render_docs",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
