"""Shared pieces of the llmlb benchmarks: databases, workload, llmlb processes, the backend.

Every run gets a fresh database ``llmlb_bench_<name>`` (dropped afterwards unless --keep-db),
a fresh simulated backend (its arrival log in the run directory) and its own llmlb processes.
Only 127.0.0.1 is contacted. Processes are started here and stopped here, by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.pgutil import as_user, drop_database  # noqa: E402
from tests.sim_backend.harness import running_backend  # noqa: E402

LLMLB = Path(os.environ.get("LLMLB_BENCH_BINARY", REPO / "build" / "cli" / "llmlb"))
PG_ADMIN_URL = os.environ.get("LLMLB_BENCH_PG", "postgresql://llmlb:llmlb@127.0.0.1:5432")
MODELS = [f"m{i}" for i in range(10)]
# The simulated backend's built-in models (tests/sim_backend/config.py): lognormal medians in
# seconds before time scaling, sigma 0.6, clipped to [1 s, 120 s].
MEDIANS = dict(zip(MODELS, (1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)))
SIGMA = 0.6
MIN_LAT, MAX_LAT = 1.0, 120.0


def db_url(name: str) -> str:
    return f"{PG_ADMIN_URL}/{name}"


@contextlib.contextmanager
def fresh_db(name: str, keep: bool = False):
    """Creates database ``llmlb_bench_<name>_<random>``, migrates it, yields its URL, drops it."""
    dbname = f"llmlb_bench_{name}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(db_url("postgres"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{dbname}"')
    url = db_url(dbname)
    try:
        llmlb(url, "migrate")
        yield url
    finally:
        if not keep:
            drop_database(db_url("postgres"), dbname)


def llmlb_env(url: str) -> dict:
    env = dict(os.environ)
    env["LLMLB_DATABASE_URL"] = url
    env.pop("LLMLB_BACKEND_TOKEN", None)
    return env


def llmlb(url: str, *args: str) -> str:
    """Runs one short llmlb command; raises on failure; returns stdout."""
    p = subprocess.run([str(LLMLB), *args], env=llmlb_env(url), capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"llmlb {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def llmlb_version() -> str:
    p = subprocess.run([str(LLMLB), "--version"], capture_output=True, text=True, timeout=30)
    return p.stdout.strip()


def snapshot_binary(workdir: Path) -> Path:
    """Copies the binary under test (LLMLB) into ``workdir`` and points LLMLB at the copy, so
    that a rebuild of the original during a run cannot change (or truncate) it half-way.
    Returns the original's path."""
    global LLMLB
    workdir.mkdir(parents=True, exist_ok=True)
    orig, snap = LLMLB, workdir / "llmlb"
    shutil.copy2(orig, snap)
    LLMLB = snap
    return orig


def machine() -> dict:
    """The machine the benchmarks ran on, for results.json."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def git_head() -> str:
    p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True, timeout=30)
    return p.stdout.strip()


@dataclass
class Limit:
    rpm: float
    burst: int
    max_inflight: int


def set_limits(url: str, limits: dict[str, Limit]) -> None:
    for model, lim in limits.items():
        llmlb(url, "limits", "set", model, "--rpm", repr(lim.rpm), "--burst", str(lim.burst),
              "--max-inflight", str(lim.max_inflight))


def unbounded_limits(max_inflight: int = 200) -> dict[str, Limit]:
    """Limits that never bind: rpm far above anything reachable, a large burst."""
    return {m: Limit(rpm=1e7, burst=100_000, max_inflight=max_inflight) for m in MODELS}


def prompt_for(seed: int, i: int) -> str:
    return f"bench task {i} (seed {seed}): summarise item {i * 7919 % 100003}"


def model_for(i: int) -> str:
    """Today's assignment: round-robin over the models by task number (task i -> m(i mod 10)),
    written into tasks.model, so every task is pinned and consecutive batches of 10 hold one
    task of each model."""
    return MODELS[i % len(MODELS)]


def insert_tasks(url: str, seed: int, first: int, count: int, pinned: bool = True) -> float:
    """Inserts tasks first..first+count-1 in one transaction, pinned round-robin (model_for),
    or unpinned (model NULL: any model may answer) when not ``pinned``; returns the database
    time of the insert (their created_at) as a Unix timestamp."""
    rows = [(prompt_for(seed, i), model_for(i) if pinned else None)
            for i in range(first, first + count)]
    with psycopg.connect(url) as c:
        with c.cursor() as cur:
            with cur.copy("COPY public.tasks (prompt, model) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        ts = c.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]
    return ts


def unsolved_count(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM public.tasks WHERE status <> 'solved'").fetchone()[0]


def task_rows(url: str) -> list[tuple]:
    """(id, model, prompt, status, answer, created_at epoch, solved_at epoch, answered_by) of
    every task."""
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT id, model, prompt, status, answer, extract(epoch FROM created_at)::float8,"
            " extract(epoch FROM solved_at)::float8, answered_by FROM public.tasks"
            " ORDER BY id").fetchall()


def call_rows(url: str) -> list[tuple]:
    """(model, sent_at epoch, finished_at epoch, latency_ms, outcome) of llmlb.calls."""
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT model, extract(epoch FROM sent_at)::float8, extract(epoch FROM finished_at)::float8,"
            " latency_ms, outcome FROM llmlb.calls ORDER BY sent_at").fetchall()


def db_stats(url: str) -> dict:
    """Transactions and rows this database saw (pg_stat_database; the database is fresh, so
    these are the run's). Each llmlb claim, write-back and heartbeat is one transaction."""
    with psycopg.connect(url) as c:
        c.execute("SELECT pg_stat_force_next_flush()")
        r = c.execute("SELECT xact_commit, xact_rollback, tup_returned, tup_fetched,"
                      " tup_updated, tup_inserted FROM pg_stat_database"
                      " WHERE datname = current_database()").fetchone()
        idx = c.execute("SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch"
                        " FROM pg_stat_user_indexes WHERE relname IN ('tasks', 'calls')"
                        " ORDER BY idx_tup_read DESC").fetchall()
        tab = c.execute("SELECT relname, seq_scan, seq_tup_read, n_tup_upd, n_tup_hot_upd,"
                        " n_dead_tup, autovacuum_count, autoanalyze_count"
                        " FROM pg_stat_user_tables WHERE relname IN ('tasks', 'calls')").fetchall()
    keys = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_updated",
            "tup_inserted")
    out = dict(zip(keys, (int(x) for x in r)))
    out["indexes"] = {i[0]: {"scans": i[1], "tup_read": i[2], "tup_fetch": i[3]} for i in idx}
    out["tables"] = {t[0]: dict(zip(("seq_scan", "seq_tup_read", "n_tup_upd", "n_tup_hot_upd",
                                     "n_dead_tup", "autovacuum", "autoanalyze"), t[1:]))
                     for t in tab}
    return out


def read_arrivals(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def backend(run_dir: Path, time_scale: float, seed: int, **options):
    """The simulated backend (default models m0..m9) with an arrival log in ``run_dir``."""
    log = run_dir / "arrivals.jsonl"
    with running_backend(time_scale=time_scale, seed=seed, arrival_log=log, **options) as b:
        yield b
    # The log file is complete once the process has exited (running_backend waited for it).


@dataclass
class Proc:
    """One llmlb work process started by the benchmark."""

    args: list[str]
    popen: subprocess.Popen
    started: float  # time.time() just before exec
    log_path: Path
    ended: float | None = None
    rc: int | None = None
    extra: dict = field(default_factory=dict)


def start_work(url: str, backend_url: str, log_path: Path, *args: str,
               user: str | None = None, binary: Path | None = None) -> Proc:
    """Starts `llmlb work` (``binary``, default LLMLB; JSON log to ``log_path``). With ``user``
    (needs root) it runs as that OS user through setpriv: Popen(user=...) would make Python
    fork() instead of vfork(), which costs more than setpriv's own exec (about 2.5 ms here)."""
    cmd = [str(binary or LLMLB), "work", "--backend-url", backend_url, "--log-format", "json",
           "--no-live", *args]
    if user:
        cmd = as_user(user, cmd)
    f = open(log_path, "ab")
    t = time.time()
    p = subprocess.Popen(cmd, env=llmlb_env(url), stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    f.close()
    return Proc(cmd, p, t, log_path)


def wait_procs(procs: list[Proc], timeout: float) -> None:
    """Waits for every process; past ``timeout`` seconds SIGTERMs (by PID) the ones left."""
    deadline = time.time() + timeout
    for pr in procs:
        try:
            pr.rc = pr.popen.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            stop_proc(pr)
        if pr.ended is None:
            pr.ended = time.time()


def stop_proc(pr: Proc) -> None:
    if pr.popen.poll() is None:
        os.kill(pr.popen.pid, signal.SIGTERM)
        try:
            pr.popen.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(pr.popen.pid, signal.SIGKILL)
            pr.popen.wait()
    pr.rc = pr.popen.returncode
    pr.ended = pr.ended or time.time()


def log_events(path: Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line.rstrip()})
    return out


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def fmt_duration(seconds: float) -> str:
    """Seconds -> an llmlb duration ('1500ms')."""
    return f"{max(1, round(seconds * 1000))}ms"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of one process in seconds (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def postgres_pids() -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm", encoding="ascii") as f:
                    if f.read().strip() == "postgres":
                        out.append(int(d))
            except OSError:
                pass
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy seconds, total seconds) of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts) - idle) / CLK_TCK, sum(parts) / CLK_TCK


class CpuMeter:
    """CPU seconds used by named groups of processes over a run, plus the whole machine's.

    Registered processes are sampled every ``interval`` seconds by a thread, so one that exits
    early keeps its last reading (up to ``interval`` of CPU may be missed). PostgreSQL: with
    ``db_url``, the server processes connected to that database (pg_stat_activity: the run's
    connections and autovacuum on it) are found at each sample, which is this run's share
    ("postgres_db"); "postgres" is every postgres process (other users' work included)."""

    def __init__(self, db_url: str | None = None, interval: float = 0.25):
        self.groups: dict[str, dict[int, list[float]]] = {}
        self.m0 = machine_cpu()
        self.t0 = time.time()
        self.pg0 = {p: _proc_cpu(p) or 0.0 for p in postgres_pids()}
        self.pg_last: dict[int, float] = dict(self.pg0)
        self.db: dict[int, list[float]] = {}  # pid -> [baseline, last]
        self._conn = psycopg.connect(db_url, autocommit=True) if db_url else None
        self._stop = threading.Event()
        self.sample()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.sample()

    def add(self, group: str, pid: int) -> None:
        self.groups.setdefault(group, {})[pid] = [_proc_cpu(pid) or 0.0, _proc_cpu(pid) or 0.0]

    def sample(self) -> None:
        for pids in self.groups.values():
            for pid, v in pids.items():
                c = _proc_cpu(pid)
                if c is not None:
                    v[1] = c
        # PostgreSQL backends come and go with the connections: remember each one's last value.
        for pid in postgres_pids():
            c = _proc_cpu(pid)
            if c is not None:
                self.pg_last[pid] = c
        if self._conn is not None:
            try:
                rows = self._conn.execute(
                    "SELECT pid, extract(epoch FROM backend_start)::float8 FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
            except psycopg.Error:
                rows = []
            for pid, started in rows:
                c = _proc_cpu(pid)
                if c is None:
                    continue
                if pid not in self.db:
                    self.db[pid] = [0.0 if started and started >= self.t0 else c, c]
                self.db[pid][1] = c

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.sample()
        if self._conn is not None:
            self._conn.close()
        m1 = machine_cpu()
        wall = time.time() - self.t0
        out = {g: round(sum(v[1] - v[0] for v in pids.values()), 2)
               for g, pids in self.groups.items()}
        pg = sum(v - self.pg0.get(p, 0.0) for p, v in self.pg_last.items())
        out["postgres"] = round(pg, 2)
        if self._conn is not None:
            out["postgres_db"] = round(sum(v[1] - v[0] for v in self.db.values()), 2)
        out["machine_busy"] = round(m1[0] - self.m0[0], 2)
        out["machine_total"] = round(m1[1] - self.m0[1], 2)
        out["wall"] = round(wall, 2)
        return out
