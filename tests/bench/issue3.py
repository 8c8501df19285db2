"""Issue 3's benchmark table: control-plane throughput, memory, start-up (quota utilisation is
run (c) of scenarios.py, against bound (d))."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np

from tests import pgutil
from . import common as C
from .metrics import pct
from .scenarios import Config, _load_note, _llmlb_summaries, _run_dir


def _loadgen(args: list[str]) -> dict:
    """Runs tests/sim_backend/loadgen.py (it spawns its own --instant backend) and parses it."""
    p = subprocess.run([sys.executable, "-m", "tests.sim_backend.loadgen", *args], cwd=C.REPO,
                       capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    m = re.search(r"(\d+) requests in ([\d.]+) s = (\d+) req/s", out)
    ceil = re.search(r"ceiling\D*?([\d,]+)\s*req/s", out)
    return {"args": " ".join(args), "output": out.strip(),
            "req_per_s": int(m.group(3)) if m else None,
            "ceiling_req_per_s": int(ceil.group(1).replace(",", "")) if ceil else None}


def control_plane(cfg: Config, n: int = 30_000, endpoint: str = "single", batch: int = 10) -> dict:
    """4 llmlb processes against the --instant backend; n pinned tasks (round-robin m0..m9);
    limits never bind. Throughput = tasks answered per second over the run (start of the
    processes to the last answer written) and over its middle 80% (by answers)."""
    name = f"cp_{endpoint}"
    cfg.log(f"[{name}] control plane: {cfg.procs} llmlb processes, instant backend, {n} tasks, "
            f"/{endpoint}")
    d = _run_dir(cfg, name)
    loads = [_load_note(cfg, "before")]
    extra = ["--endpoint", "batch", "--batch-size", str(batch)] if endpoint == "batch" else []
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.running_backend(instant=True, arrival_log=d / "arrivals.jsonl") as b:
        C.set_limits(url, C.unbounded_limits(max_inflight=100_000))
        C.insert_tasks(url, cfg.seed, 0, n)
        meter = C.CpuMeter(url)
        meter.add("backend", b.pid)
        t0 = time.time()
        procs = [C.start_work(url, b.url, d / f"llmlb{k}.log", "--until-empty", *extra)
                 for k in range(cfg.procs)]
        for p in procs:
            meter.add("llmlb", p.popen.pid)
        C.wait_procs(procs, timeout=600)
        cpu = meter.stop()
        rows = C.task_rows(url)
    loads.append(_load_note(cfg, "after"))
    sol = np.sort(np.array([r[6] for r in rows if r[6] is not None]))
    makespan = float(sol[-1] - t0)
    lo, hi = sol[int(0.1 * (sol.size - 1))], sol[int(0.9 * (sol.size - 1))]
    res = {"name": name, "tasks": n, "solved": int(sol.size), "endpoint": endpoint,
           "makespan_s": round(makespan, 3), "tasks_per_s": round(sol.size / makespan, 1),
           "tasks_per_s_middle_80pct": round(0.8 * (sol.size - 1) / float(hi - lo), 1),
           "cpu_s": cpu, "load": loads, "llmlb": _llmlb_summaries(procs)}
    return res


def instant_ceiling(cfg: Config) -> dict:
    cfg.log("[cp_ceiling] the instant backend alone (loadgen --spawn)")
    return {"single": _loadgen(["--spawn", "--duration", "5", "--connections", "64"]),
            "batch10": _loadgen(["--spawn", "--duration", "5", "--connections", "64",
                                 "--batch", "10"]),
            "load": _load_note(cfg, "after")}


def _status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "VmSize", "VmPeak", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def memory(cfg: Config, inflight: int = 2000, prompt_bytes: int = 1024,
           latency_s: float = 20.0) -> dict:
    """One llmlb process with --max-inflight-total 2000 against a backend whose one model
    answers after ``latency_s`` (sigma 0), so all 2000 calls are in flight together; VmRSS and
    VmHWM from /proc/<pid>/status, sampled every 0.1 s."""
    name = "mem"
    cfg.log(f"[{name}] memory: {inflight} calls in flight, prompts of {prompt_bytes} bytes")
    d = _run_dir(cfg, name)
    models = {"models": {"slow": {"median": latency_s, "sigma": 0.0}}}
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.running_backend(models=models, time_scale=1,
                              arrival_log=d / "arrivals.jsonl") as b:
        C.set_limits(url, {"slow": C.Limit(rpm=1e7, burst=100_000, max_inflight=100_000)})
        import psycopg

        pad = "x" * max(0, prompt_bytes - 40)
        with psycopg.connect(url) as c:
            c.execute("INSERT INTO public.tasks (prompt, model) SELECT 'mem task ' || g || ' '"
                      " || %s, 'slow' FROM generate_series(1, %s) g", (pad, inflight))
        t0 = time.time()
        p = C.start_work(url, b.url, d / "llmlb.log", "--max-inflight-total", str(inflight),
                         "--max-runtime", f"{int(latency_s * 0.6)}s", "--drain-timeout", "1s")
        samples, all_in = [], None
        while p.popen.poll() is None:
            s = _status(p.popen.pid)
            if s:
                s["t"] = round(time.time() - t0, 2)
                samples.append(s)
            if all_in is None:
                n = len(b.arrivals(since=t0))
                if n >= inflight:
                    all_in = {"t": round(time.time() - t0, 2), **s}
            time.sleep(0.1)
        p.rc = p.popen.returncode
        arrived = len(b.arrivals(since=t0))
    hwm = max((s.get("VmHWM", 0) for s in samples), default=0)
    rss_at_full = (all_in or {}).get("VmRSS")
    return {"name": name, "inflight_target": inflight, "arrived_at_backend": arrived,
            "prompt_bytes": prompt_bytes, "all_in_flight_at": all_in,
            "vmhwm_kb": hwm, "vmhwm_mb": round(hwm / 1024, 1),
            "vmrss_at_full_mb": round(rss_at_full / 1024, 1) if rss_at_full else None,
            "rc": p.rc, "samples": samples[:: max(1, len(samples) // 40)]}


def _iso(ts: str) -> float:
    from datetime import datetime, timezone

    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


# Where PostgreSQL's Unix socket lives on Debian; the socket variant of the start-up run uses it.
PG_SOCKET_DIR = "/var/run/postgresql"


def _socket_user() -> str | None:
    """The OS user for the socket variant: `postgres` (peer authentication, as Debian configures
    local connections), reachable only when the benchmark runs as root; else None."""
    import os
    import pwd

    import shutil

    if os.geteuid() != 0 or not os.path.isdir(PG_SOCKET_DIR) or not shutil.which("setpriv"):
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


def startup_run(url: str, work_url: str, b, log_path, seed: int, i: int,
                user: str | None = None, binary=None) -> tuple[float | None, float | None]:
    """One start-up run: inserts task i into ``url``, waits 200 ms, starts `llmlb work --max-tasks
    1 --until-empty` on ``work_url``, waits for it. Returns (exec → first request at backend ``b``,
    exec → 'start' log line) in ms, each None when it did not happen."""
    C.insert_tasks(url, seed, i, 1)
    time.sleep(0.2)
    p = C.start_work(work_url, b.url, log_path, "--max-tasks", "1", "--until-empty", user=user,
                     binary=binary)
    p.popen.wait(30)
    arr = b.arrivals(since=p.started)
    first = (min(r["ts"] for r in arr) - p.started) * 1000 if arr else None
    ev = [e for e in C.log_events(p.log_path) if e.get("event") == "start"]
    start = (_iso(ev[0]["ts"]) - p.started) * 1000 if ev else None
    return first, start


def _startup_runs(cfg: Config, d, url: str, b, reps: int, first: int, work_url: str,
                  user: str | None) -> tuple[list[float], list[float]]:
    lat, to_start = [], []
    for i in range(first, first + reps):
        ms, start = startup_run(url, work_url, b, d / f"llmlb{i}.log", cfg.seed, i, user)
        if ms is not None:
            lat.append(ms)
        if start is not None:
            to_start.append(start)
    return lat, to_start


def _startup_figures(lat: list[float], to_start: list[float]) -> dict:
    if not lat:
        return {"runs": 0}
    return {"runs": len(lat), "median_ms": round(pct(lat, 50), 1),
            "p95_ms": round(pct(lat, 95), 1), "max_ms": round(max(lat), 1),
            "all_ms": [round(x, 1) for x in lat],
            "to_start_line_median_ms": round(pct(to_start, 50), 1) if to_start else None}


def startup(cfg: Config, reps: int = 20) -> dict:
    """Process start to the first request arriving at the backend: time.time() just before the
    exec vs the arrival log's ts of the run's first request (same clock). One task waits in the
    queue each time; llmlb runs with --max-tasks 1 --until-empty. For the breakdown: the
    'start' log line (written once connected and the schema checked; ms resolution) and the
    wall time of ``llmlb --version`` (exec + dynamic linking only).

    Three connections to the same server: TCP to 127.0.0.1 as role llmlb (Debian's defaults make
    that TLS + SCRAM-SHA-256, about 20 ms of handshakes), the same with sslmode=disable (SCRAM
    only), and, when the benchmark runs as root, the Unix socket as OS user and role postgres
    (peer authentication: no TLS, no password), started through setpriv."""
    name = "start"
    cfg.log(f"[{name}] start-up: {reps} runs per connection kind")
    d = _run_dir(cfg, name)
    version = []
    for _ in range(reps):
        t = time.time()
        subprocess.run([str(C.LLMLB), "--version"], capture_output=True, timeout=30)
        version.append((time.time() - t) * 1000)
    with C.fresh_db(name, cfg.keep_db) as url, \
            C.running_backend(instant=True, arrival_log=d / "arrivals.jsonl") as b:
        C.set_limits(url, C.unbounded_limits())
        tcp = _startup_figures(*_startup_runs(cfg, d, url, b, reps, 0, url, None))
        # The same without TLS (a DSN option, no server change): what the TLS handshake costs.
        plain = _startup_figures(*_startup_runs(cfg, d, url, b, reps, 2 * reps,
                                                url + "?sslmode=disable", None))
        plain["connection"] = "TCP 127.0.0.1, role llmlb, sslmode=disable (SCRAM-SHA-256, no TLS)"
        user = _socket_user()
        if user:
            dbname = url.rsplit("/", 1)[1]
            sock_url = f"postgresql:///{dbname}?host={PG_SOCKET_DIR}"
            sock = _startup_figures(*_startup_runs(cfg, d, url, b, reps, reps, sock_url, user))
            sock["connection"] = (f"Unix socket, OS user and role {user}, peer authentication "
                                  "(started through setpriv, ~2.5 ms included)")
        else:
            sock = {"runs": 0, "skipped": "needs root and setpriv (to run as OS user postgres)"}
        pooled = {"runs": 0, "skipped": "needs root and PgBouncer (apt-get install pgbouncer)"}
        if user and pgutil.PGBOUNCER.exists():
            # PgBouncer next to the worker holds the TLS + SCRAM connection to the server; llmlb
            # reaches it over its Unix socket with peer authentication.
            with pgutil.running_pgbouncer(url) as (_, port, sock_dir):
                pool_url = f"postgresql:///{dbname}?host={sock_dir}&port={port}"
                pooled = _startup_figures(*_startup_runs(cfg, d, url, b, reps, 3 * reps,
                                                         pool_url, user))
            pooled["connection"] = (f"PgBouncer 1.18 (session pool) over its Unix socket, OS user "
                                    f"{user}, peer authentication; PgBouncer to the server: TCP, "
                                    "TLS + SCRAM-SHA-256, as role llmlb (setpriv included)")
    out = {"name": name, **tcp,
           "connection": "TCP 127.0.0.1, role llmlb (TLS + SCRAM-SHA-256)",
           "version_exec_median_ms": round(pct(version, 50), 1),
           "tcp_no_tls": plain, "socket": sock, "pgbouncer": pooled,
           "load": _load_note(cfg, "after")}
    return out


SCENARIOS = {
    "cp": lambda cfg: {"single": control_plane(cfg, endpoint="single"),
                       "batch": control_plane(cfg, endpoint="batch"),
                       "ceiling": instant_ceiling(cfg)},
    "mem": memory,
    "start": startup,
}
