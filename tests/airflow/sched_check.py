"""The llmlb DAG under a real Airflow 3 scheduler (LocalExecutor, PostgreSQL metadata DB).

    .ci/.cache/airflow-venv/bin/python tests/airflow/sched_check.py            # the CI check
    .ci/.cache/airflow-venv/bin/python tests/airflow/sched_check.py --shape continuous ...
    .ci/.cache/airflow-venv/bin/python tests/airflow/sched_check.py --shape longrun ...

Shapes: `overlap` is the shipped DAG (`build_llmlb_dag()` with its defaults: a run every `period`,
`max_active_runs=2`, each slot `--max-runtime period + overlap`), with the period scaled down;
`continuous` is the former shape (`@continuous`, `max_active_runs=1`); `longrun` is no Airflow at
all: N `llmlb work --until-empty` processes started together (the throughput reference).

What it starts, all its own and stopped by PID (process group) at the end: a PostgreSQL role
with a random password, a work database and an Airflow metadata database (both dropped at the
end), one simulated backend on 127.0.0.1 (arrival log), and for the DAG shapes `airflow db
migrate`, then `airflow api-server --apps execution` (LocalExecutor's task runners report to the
Execution API), `airflow dag-processor` and `airflow scheduler`.  It waits until the backlog is
solved, pauses the DAG, waits for the active runs to end, stops everything and checks:

- every task solved, no lease left, every llmlb worker deregistered (stopped_at set);
- never more `llmlb work` processes at once than the pool allows (llmlb.workers intervals);
- the quotas held at the backend: per model and every window W in {1, 5} s, arrivals <= rpm*W/60
  + burst (the arrival log);
- DAG shapes: >= 3 runs, all successful; consecutive runs overlapped (`overlap`) or ran back to
  back (`continuous`); more workers solved tasks than one run has (the backlog outlived a run).

It prints the measures too (throughput over the steady part, claim-free time, scheduler gap
between runs, abandoned calls), and with --json FILE writes them as JSON.  Exit status 0 when
every check passed.  Needs: root or sudo to postgres, build/cli/llmlb (LLMLB_BIN), .venv (the
simulated backend), psycopg2 in this Python (tests/airflow/constraints.txt has it).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from bisect import bisect_left
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "airflow"
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[sched-check {time.monotonic() - T0:4.0f}s] {msg}", flush=True)


def secs(text: str) -> float:
    text = text.strip()
    for unit, f in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "").isdigit():
            return float(text[: -len(unit)]) * f
    return float(text)


class Run:
    def __init__(self, args):
        self.a = args
        self.port = int(os.environ.get("PGPORT", "5432"))
        suffix = secrets.token_hex(4)
        self.role = f"llmlb_sc_{suffix}"
        self.db = f"llmlb_sched_{suffix}"
        self.meta_db = f"airflow_meta_{suffix}"
        self.pw = "pw-" + secrets.token_hex(16)
        self.work = Path(tempfile.mkdtemp(prefix="llmlb-sched."))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.created_role = self.created_db = self.created_meta = False
        self.failures: list[str] = []
        self.measures: dict = {"shape": args.shape, "workers": args.workers}
        self.af_env = None
        self.llmlb_bin = os.environ.get("LLMLB_BIN", str(ROOT / "build" / "cli" / "llmlb"))
        self.af_bin = Path(sys.executable).parent / "airflow"

    # -- helpers ------------------------------------------------------------------------------
    def as_pg(self, sql: str) -> str:
        cmd = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-p", str(self.port), "-d", "postgres"]
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-c", " ".join(cmd)]
        else:
            cmd = ["sudo", "-n", "-u", "postgres", *cmd]
        return subprocess.run(cmd, input=sql, text=True, capture_output=True, check=True).stdout

    def conn(self, db=None):
        c = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.role, password=self.pw, dbname=db or self.db)
        c.autocommit = True
        return c

    def q(self, sql, args=None, db=None):
        with self.conn(db) as c, c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None

    def llmlb_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and not k.startswith("LLMLB_")}
        env.update(PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER=self.role, PGPASSWORD=self.pw, PGDATABASE=self.db)
        return env

    def start(self, name, cmd, env=None, cwd=None):
        out = open(self.logs / f"{name}.out", "wb")
        err = open(self.logs / f"{name}.err", "wb")
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        self.procs[name] = p
        return p

    def stop(self, name, grace=30.0):
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)  # the group we created (start_new_session): p and its children
        except ProcessLookupError:
            return
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{name} (pid {p.pid}) still running after {grace:.0f}s: SIGKILL to its group")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
        # children left in the group (e.g. task runners) after the leader exited
        try:
            os.killpg(p.pid, 0)
            time.sleep(2)
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def airflow(self, *args, timeout=300):
        r = subprocess.run([str(self.af_bin), *args], env=self.af_env, capture_output=True, text=True, timeout=timeout)
        (self.logs / "airflow-cli.log").open("a").write(f"$ airflow {' '.join(args)}\n{r.stdout}\n{r.stderr}\n")
        if r.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
        return r.stdout

    def fail(self, msg):
        self.failures.append(msg)
        log("FAIL: " + msg)

    # -- setup --------------------------------------------------------------------------------
    def setup_db(self):
        self.as_pg(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.pw}'")
        self.created_role = True
        self.as_pg(f"CREATE DATABASE {self.db} OWNER {self.role}")
        self.created_db = True
        env = self.llmlb_env()
        subprocess.run([self.llmlb_bin, "migrate"], env=env, check=True, capture_output=True)
        for m in self.a.models.split(","):
            subprocess.run(
                [self.llmlb_bin, "limits", "set", m, "--rpm", str(self.a.rpm), "--burst", str(self.a.burst),
                 "--max-inflight", str(self.a.max_inflight)],
                env=env, check=True, capture_output=True,
            )
        self.q(
            "INSERT INTO tasks(prompt) SELECT 'sched-' || g || ': say something about ' || g "
            "FROM generate_series(1, %s) g",
            (self.a.tasks,),
        )
        log(f"PostgreSQL: work database {self.db}, role {self.role}; {self.a.tasks} tasks, models "
            f"{self.a.models} at rpm {self.a.rpm} burst {self.a.burst}")

    def start_backend(self):
        sim_py = os.environ.get("LLMLB_SIM_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
        self.arrivals = self.work / "arrivals.jsonl"
        self.start("backend", [sim_py, "-m", "tests.sim_backend.server", "--port", "0", "--time-scale",
                               str(self.a.time_scale), "--seed", "1", "--arrival-log", str(self.arrivals)], cwd=ROOT)
        for _ in range(150):
            text = (self.logs / "backend.out").read_text()
            if "listening on " in text:
                self.backend_url = text.split("listening on ", 1)[1].split()[0]
                log(f"simulated backend {self.backend_url} (time scale {self.a.time_scale})")
                return
            if self.procs["backend"].poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("simulated backend did not start: " + (self.logs / "backend.err").read_text()[-2000:])

    def wrapper(self):
        path = self.work / "llmlb"
        path.write_text(f'#!/bin/sh\necho $$ >>"{self.work}/llmlb.pids"\nexec "{self.llmlb_bin}" "$@"\n')
        path.chmod(0o755)
        return str(path)

    def setup_airflow(self):
        a = self.a
        home = self.work / "airflow"
        dags = self.work / "dags"
        dags.mkdir()
        for f in ("llmlb_airflow.py", ".airflowignore"):
            if (ROOT / "dags" / f).exists():
                shutil.copy(ROOT / "dags" / f, dags / f)
        if a.shape == "overlap":  # the shipped DAG's defaults, with the period scaled down
            build = f'build_llmlb_dag("llmlb_sched", period=timedelta(seconds={a.period}), overlap=timedelta(seconds={a.overlap}))'
        else:
            build = 'build_llmlb_dag("llmlb_sched", schedule="@continuous")'
        (dags / "llmlb_sched_dag.py").write_text(
            "import os, sys\nfrom datetime import timedelta\n"
            "sys.path.append(os.path.dirname(os.path.abspath(__file__)))\n"
            f"from llmlb_airflow import build_llmlb_dag\n\ndag = {build}\n"
        )
        self.as_pg(f"CREATE DATABASE {self.meta_db} OWNER {self.role}")
        self.created_meta = True
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            api_port = s.getsockname()[1]
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "PG", "LLMLB_"))}
        env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                f"postgresql+psycopg2://{self.role}:{self.pw}@127.0.0.1:{self.port}/{self.meta_db}",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PYTHONWARNINGS": "ignore",
        })
        self.af_env = env
        self.api_port = api_port
        t = time.monotonic()
        self.airflow("db", "migrate", timeout=600)
        log(f"airflow db migrate on PostgreSQL database {self.meta_db}: {time.monotonic() - t:.0f}s")
        (self.work / "conn.json").write_text(json.dumps({"llmlb_db": {
            "conn_type": "postgres", "host": "127.0.0.1", "port": self.port, "schema": self.db,
            "login": self.role, "password": self.pw}}))
        self.airflow("connections", "import", str(self.work / "conn.json"))
        (self.work / "conn.json").unlink()
        self.airflow("pools", "set", "llmlb", str(a.pool), "llmlb workers")
        variables = {
            "llmlb_binary": self.wrapper(), "llmlb_backend_url": self.backend_url,
            "llmlb_workers": str(a.workers), "llmlb_drain_timeout": a.drain, "llmlb_term_grace": "10s",
            "llmlb_work_args": "--progress-interval 5s",
        }
        if a.max_runtime:
            variables["llmlb_max_runtime"] = a.max_runtime
        (self.work / "variables.json").write_text(json.dumps(variables))
        self.airflow("variables", "import", str(self.work / "variables.json"))

    def start_airflow(self):
        self.start("api-server", [str(self.af_bin), "api-server", "--apps", "execution", "-H", "127.0.0.1",
                                  "-p", str(self.api_port), "-w", "1"], env=self.af_env)
        self.start("dag-processor", [str(self.af_bin), "dag-processor"], env=self.af_env)
        self.start("scheduler", [str(self.af_bin), "scheduler"], env=self.af_env)
        log(f"started api-server (execution API, pid {self.procs['api-server'].pid}, port {self.api_port}), "
            f"dag-processor (pid {self.procs['dag-processor'].pid}), scheduler (pid {self.procs['scheduler'].pid})")

    # -- run ----------------------------------------------------------------------------------
    def wait_solved(self):
        deadline = time.monotonic() + self.a.timeout
        last = None
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None and not name.startswith("longrun"):
                    raise RuntimeError(f"{name} exited {p.returncode}: see {self.logs}/{name}.err")
            (solved,), = self.q("SELECT count(*) FROM tasks WHERE status <> 'unsolved'")
            if solved != last:
                last = solved
                if int(time.monotonic() - T0) % 10 < 2:
                    log(f"{solved}/{self.a.tasks} tasks done")
            if solved >= self.a.tasks:
                log(f"backlog done ({solved} tasks)")
                return True
            time.sleep(1)
        self.fail(f"backlog not done within {self.a.timeout}s ({last}/{self.a.tasks})")
        return False

    def wind_down_airflow(self):
        self.airflow("dags", "pause", "llmlb_sched")
        deadline = time.monotonic() + secs(self.a.max_runtime or f"{self.a.period + self.a.overlap}s") + secs(self.a.drain) + 90
        while time.monotonic() < deadline:
            (active,), = self.q("SELECT count(*) FROM dag_run WHERE dag_id = 'llmlb_sched' AND state IN ('queued', 'running')",
                                db=self.meta_db)
            if active == 0:
                log("DAG paused, no active run left")
                return
            time.sleep(2)
        self.fail("DAG runs still active long after the pause")

    def run_longrun(self):
        env = self.llmlb_env()
        env["LLMLB_BACKEND_URL"] = self.backend_url
        for i in range(self.a.workers):
            self.start(f"longrun-{i}", [self.wrapper(), "work", "--until-empty", "--drain-timeout", self.a.drain,
                                        "--progress-interval", "5s"], env=env)
        self.procs["longrun"] = self.procs["longrun-0"]
        log(f"started {self.a.workers} long-running llmlb work --until-empty")

    # -- analysis -----------------------------------------------------------------------------
    def analyse(self):
        a, m = self.a, self.measures
        (total, solved, leased), = self.q(
            "SELECT count(*), count(*) FILTER (WHERE status = 'solved'), count(*) FILTER (WHERE lease_token IS NOT NULL) FROM tasks")
        m.update(total=total, solved=solved, leased=leased)
        log(f"tasks: {total} total, {solved} solved, {leased} leased")
        if solved != total:
            self.fail(f"{total - solved} tasks not solved")
        if leased:
            self.fail(f"{leased} tasks still leased")

        workers = self.q("SELECT id, extract(epoch FROM started_at)::float8, extract(epoch FROM stopped_at)::float8 "
                         "FROM llmlb.workers ORDER BY started_at")
        m["llmlb_processes"] = len(workers)
        open_ = [w[0] for w in workers if w[2] is None]
        if open_:
            self.fail(f"workers without stopped_at: {open_}")
        events = sorted([(w[1], 1) for w in workers] + [(w[2] or time.time(), -1) for w in workers],
                        key=lambda e: (e[0], e[1]))
        cur = peak = 0
        for _, d in events:
            cur += d
            peak = max(peak, cur)
        m["max_concurrent_llmlb"] = peak
        limit = a.workers if a.shape == "longrun" else a.pool
        log(f"llmlb work processes: {len(workers)}, at most {peak} at once (pool {limit})")
        if peak > limit:
            self.fail(f"{peak} llmlb work processes at once, pool allows {limit}")

        # throughput over the steady part: from 5 s after the first call to the 95th percentile of solved_at
        (t_first, t_q95, t_last), = self.q(
            "SELECT extract(epoch FROM (SELECT min(sent_at) FROM llmlb.calls))::float8, "
            "extract(epoch FROM percentile_disc(0.95) WITHIN GROUP (ORDER BY solved_at))::float8, "
            "extract(epoch FROM max(solved_at))::float8 FROM tasks")
        ta, tb = t_first + 5, t_q95
        (n_win,), = self.q("SELECT count(*) FROM tasks WHERE solved_at >= to_timestamp(%s) AND solved_at < to_timestamp(%s)", (ta, tb))
        bound = len(a.models.split(",")) * a.rpm / 60
        rate = n_win / (tb - ta)
        m.update(steady_s=round(tb - ta, 1), solved_per_s=round(rate, 3), quota_bound_per_s=bound,
                 of_quota_bound=round(rate / bound, 4), makespan_s=round(t_last - t_first, 1))
        # claim-free time inside the steady window: no worker between its start and its max-runtime
        max_rt = None if a.shape == "longrun" else secs(a.max_runtime or f"{a.period + a.overlap}s")
        spans = sorted((w[1], min(w[2] or 1e18, w[1] + max_rt) if max_rt else (w[2] or 1e18)) for w in workers)
        idle, covered_to = 0.0, ta
        for s, e in spans:
            if e <= covered_to:
                continue
            if s > covered_to:
                idle += max(0.0, min(s, tb) - covered_to)
            covered_to = max(covered_to, e)
            if covered_to >= tb:
                break
        idle += max(0.0, tb - covered_to)
        m["no_claiming_s"] = round(idle, 1)
        m["no_claiming_share"] = round(idle / (tb - ta), 4)
        calls = dict(self.q("SELECT outcome, count(*) FROM llmlb.calls GROUP BY 1"))
        m["calls"] = calls
        m["abandoned_calls"] = calls.get("abandoned", 0)
        log(f"throughput {rate:.2f} tasks/s over the steady {tb - ta:.0f}s = {rate / bound:.1%} of the quota bound "
            f"{bound:.2f}/s; makespan {t_last - t_first:.0f}s; no slot claiming for {idle:.1f}s ({idle / (tb - ta):.1%}); "
            f"calls {calls}")
        if a.shape != "longrun":
            (solvers,), = self.q("SELECT count(DISTINCT worker) FROM llmlb.calls WHERE outcome = 'ok'")
            m["workers_that_solved"] = solvers
            if solvers <= a.workers:
                self.fail(f"only {solvers} workers solved tasks: the backlog did not outlive one run")

    def analyse_quota(self):
        recs = [json.loads(line) for line in self.arrivals.read_text().splitlines() if line.strip()]
        by_model: dict[str, list[float]] = {}
        for r in recs:
            if r.get("model"):
                by_model.setdefault(r["model"], []).append(r["ts"])
        worst = {}
        for w in (1.0, 5.0):
            limit = self.a.rpm * w / 60 + self.a.burst
            for model, ts in sorted(by_model.items()):
                ts.sort()
                peak = max(bisect_left(ts, t + w) - i for i, t in enumerate(ts))
                worst[f"{model}/{w:g}s"] = (peak, limit)
                if peak > limit + 1e-9:
                    self.fail(f"{model}: {peak} arrivals in {w:g}s > rpm*W/60+burst = {limit:g}")
        self.measures["arrivals"] = len(recs)
        self.measures["quota_windows"] = {k: f"{p}/{lim:g}" for k, (p, lim) in worst.items()}
        log(f"backend arrivals: {len(recs)}; busiest window / bound: "
            + ", ".join(f"{k} {p}/{lim:g}" for k, (p, lim) in worst.items()))

    def analyse_runs(self):
        a, m = self.a, self.measures
        runs = self.q(
            "SELECT r.run_id, r.state, extract(epoch FROM r.start_date)::float8, extract(epoch FROM r.end_date)::float8, "
            "extract(epoch FROM min(t.start_date))::float8, extract(epoch FROM max(t.end_date))::float8, "
            "count(t.*), count(t.*) FILTER (WHERE t.state = 'success'), extract(epoch FROM r.run_after)::float8 "
            "FROM dag_run r LEFT JOIN task_instance t ON t.dag_id = r.dag_id AND t.run_id = r.run_id AND t.task_id = 'work' "
            "WHERE r.dag_id = 'llmlb_sched' GROUP BY 1, 2, 3, 4, r.run_after ORDER BY 3", db=self.meta_db)
        m["dag_runs"] = len(runs)
        gaps = []
        lags = []
        for i, (run_id, state, rs, re_, ws, we, n, ok, after) in enumerate(runs):
            if ws and after and i > 0:  # the first run may start at once (no catch-up), the others on the grid
                lags.append(round(ws - after, 1))
            log(f"run {i}: {state}, work {ok}/{n} success, work span {ws and (we - ws):.1f}s" if ws and we else
                f"run {i}: {state}, work {ok}/{n}")
            if state != "success" or n != a.workers or ok != n:
                self.fail(f"run {run_id}: state {state}, work {ok}/{n} succeeded (expected {a.workers})")
        for prev, nxt in zip(runs, runs[1:]):
            if prev[5] and nxt[4]:
                gaps.append(round(nxt[4] - prev[5], 1))  # next run's first work start - previous run's last work end
        m["work_gap_s"] = gaps  # negative: the runs' work overlapped
        if a.shape == "overlap":
            m["start_lag_s"] = lags  # first work start - the run's scheduled time (run_after)
            log(f"scheduler lag, scheduled time -> first work slot started: {lags} s")
        log(f"{len(runs)} DAG runs; next run's first work start minus previous run's last work end: {gaps} s")
        if len(runs) < 3:
            self.fail(f"only {len(runs)} DAG runs (expected >= 3)")
        if a.shape == "overlap":
            if sum(g < 0 for g in gaps) < 2:
                self.fail("fewer than 2 pairs of consecutive runs overlapped")
        elif any(g > 30 for g in gaps):
            self.fail("consecutive runs were not back to back (gap > 30 s)")

    # -- teardown -----------------------------------------------------------------------------
    def cleanup(self):
        for name in ("scheduler", "dag-processor", "api-server"):  # no task runs any more: short grace
            self.stop(name, grace=10)
        for name in [n for n in self.procs if n.startswith("longrun-")]:
            self.stop(name, grace=60)
        self.stop("backend", grace=10)
        pids = (self.work / "llmlb.pids").read_text().split() if (self.work / "llmlb.pids").exists() else []
        alive = [p for p in pids if Path(f"/proc/{p}/cmdline").exists() and b"llmlb" in Path(f"/proc/{p}/cmdline").read_bytes()]
        if alive:
            self.fail(f"llmlb processes still alive: {alive}")
        for db in ([self.meta_db] if self.created_meta else []) + ([self.db] if self.created_db else []):
            try:
                self.as_pg(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except subprocess.CalledProcessError as e:
                log(f"could not drop {db}: {e.stderr}")
        if self.created_role:
            try:
                self.as_pg(f"DROP ROLE IF EXISTS {self.role}")
            except subprocess.CalledProcessError as e:
                log(f"could not drop role {self.role}: {e.stderr}")
        if self.failures or os.environ.get("LLMLB_AIRFLOW_KEEP") == "1":
            log(f"kept {self.work} (logs in {self.logs})")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def main(self):
        try:
            self.setup_db()
            self.start_backend()
            if self.a.shape == "longrun":
                self.run_longrun()
                self.wait_solved()
                for name in [n for n in self.procs if n.startswith("longrun-")]:
                    self.procs[name].wait(60)
            else:
                self.setup_airflow()
                self.start_airflow()
                t = time.monotonic()
                if self.wait_solved():
                    self.measures["backlog_s_from_scheduler_start"] = round(time.monotonic() - t, 1)
                self.wind_down_airflow()
            self.stop("backend", grace=10)  # flushes the arrival log
            self.analyse()
            self.analyse_quota()
            if self.a.shape != "longrun":
                self.analyse_runs()
        except Exception as e:  # noqa: BLE001 - reported as a failure, cleanup follows
            self.fail(f"{type(e).__name__}: {e}")
        finally:
            self.cleanup()
        self.measures["failures"] = self.failures
        self.measures["seconds"] = round(time.monotonic() - T0)
        if self.a.json:
            Path(self.a.json).write_text(json.dumps(self.measures, indent=1))
        log(f"{'PASS' if not self.failures else 'FAIL'} ({len(self.failures)} failures) in {time.monotonic() - T0:.0f}s")
        return 0 if not self.failures else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=("overlap", "continuous", "longrun"), default="overlap")
    p.add_argument("--workers", type=int, default=2, help="N: work slots per run / long-running processes")
    p.add_argument("--pool", type=int, help="pool slots (default: 2 N for overlap, N for continuous)")
    p.add_argument("--period", type=int, default=20, help="overlap: seconds between runs (shipped: 240)")
    p.add_argument("--overlap", type=int, default=15, help="overlap: max-runtime = period + this (shipped: 30)")
    p.add_argument("--max-runtime", default="", help="llmlb_max_runtime Variable (default: the DAG's)")
    p.add_argument("--drain", default="5s", help="llmlb_drain_timeout")
    p.add_argument("--tasks", type=int, default=1200)
    p.add_argument("--models", default="m0,m5")
    p.add_argument("--rpm", type=float, default=600)
    p.add_argument("--burst", type=int, default=5)
    p.add_argument("--max-inflight", type=int, default=20)
    p.add_argument("--time-scale", type=float, default=0.05)
    p.add_argument("--timeout", type=int, default=300, help="seconds to wait for the backlog")
    p.add_argument("--json", help="write the measures to this file")
    args = p.parse_args()
    if args.pool is None:
        args.pool = 2 * args.workers if args.shape == "overlap" else args.workers
    if args.shape == "continuous" and not args.max_runtime:
        args.max_runtime = f"{args.period + args.overlap}s"
    return Run(args).main()


if __name__ == "__main__":
    sys.exit(main())
