"""Building blocks of the llmlb Airflow DAG (imported by ``llmlb_dag.py``; defines no DAG itself).

What is here:

- ``LlmlbOperator``: a ``BashOperator`` that runs one ``llmlb`` command.  The database settings
  come from an Airflow connection and are put into the subprocess environment as libpq variables
  (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, ...) in ``get_env()``, i.e. at execute time,
  after the templates were rendered: the password is never part of a templated field, so it is
  neither in the rendered-fields view nor in the ``Running command`` log line.  Its ``on_kill``
  (called by Airflow when ``execution_timeout`` fires, or when the task is stopped) sends SIGTERM
  to llmlb and waits until llmlb has released its unfinished tasks and exited.
- ``build_llmlb_dag()``: the DAG factory (``migrate`` and ``slots``, then ``work`` mapped over
  the slots).  Runs start every ``period`` (default 4 minutes) and each ``work`` slot runs
  ``period + overlap`` (default 4m30s), so the next run's slots are claiming before the previous
  run's slots stop: no run boundary where nothing claims.  ``max_active_runs=2`` and the pool
  bound the processes to 2 N.

Works with Airflow 3 (``airflow.sdk``) and Airflow 2.6+ (import fallback).  See docs/airflow.md.
"""

from __future__ import annotations

import inspect
import os
import re
import select
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, BaseHook, Param, task
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException
except ImportError:  # Airflow 2.6+
    from airflow import DAG
    from airflow.decorators import task
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException
    from airflow.hooks.base import BaseHook
    from airflow.models.param import Param

    try:
        from airflow.providers.standard.operators.bash import BashOperator
    except ImportError:
        from airflow.operators.bash import BashOperator

DEFAULT_CONN_ID = "llmlb_db"
DEFAULT_BACKEND_CONN_ID = "llmlb_backend"
DEFAULT_POOL = "llmlb"

# Runtime settings: each one is taken from the DAG run's params (conf of a manual run) when set,
# else from the Airflow Variable "llmlb_<name>", else from this default.
SETTING_DEFAULTS = {
    "binary": "llmlb",  # path of the llmlb binary, or a name looked up in PATH
    "backend_url": "",  # empty: llmlb uses LLMLB_BACKEND_URL from the worker's environment
    "workers": "4",  # N: llmlb processes per DAG run (the pool caps how many run at once)
    "max_runtime": "",  # each llmlb stops claiming after this; empty: the DAG's period + overlap
    "drain_timeout": "30s",  # ... and waits this long for in-flight calls
    "term_grace": "20s",  # on SIGTERM (execution_timeout, task stopped): drain up to this
    "execution_timeout": "",  # empty: max_runtime + drain_timeout + 60s, computed per run
    "work_args": "",  # extra `llmlb work` flags, e.g. "--models m0,m1 --log-format json"
}

# libpq environment variables taken from a connection's extra (JSON) when present.
_EXTRA_TO_LIBPQ = {
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
}

_BASH_INIT_PARAMS = inspect.signature(BashOperator.__init__).parameters

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """'90s', '5m', '1h30m', '250ms' or a bare number of seconds -> timedelta (ValueError if bad)."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 1h)")
    return timedelta(seconds=total)


def setting(name: str, default: str | None = None) -> str:
    """Jinja template resolving one runtime setting: DAG run param, else Variable, else default."""
    default = SETTING_DEFAULTS[name] if default is None else default
    return (
        f"{{{{ params.{name} if params.{name} is not none and params.{name} != '' "
        f"else var.value.get('llmlb_{name}', '{default}') }}}}"
    )


def libpq_env(conn) -> dict[str, str]:
    """libpq environment variables for an Airflow connection (database = the connection's schema)."""
    env = {}
    for var, value in (
        ("PGHOST", conn.host),
        ("PGPORT", conn.port),
        ("PGDATABASE", conn.schema),
        ("PGUSER", conn.login),
        ("PGPASSWORD", conn.password),
    ):
        if value not in (None, ""):
            env[var] = str(value)
    extra = conn.extra_dejson or {}
    for key, var in _EXTRA_TO_LIBPQ.items():
        if extra.get(key) not in (None, ""):
            env[var] = str(extra[key])
    return env


class LlmlbOperator(BashOperator):
    """Runs an ``llmlb`` command with the database credentials of an Airflow connection.

    :param conn_id: connection with the PostgreSQL settings (host, port, schema = database, login,
        password; extra may carry sslmode, sslrootcert, connect_timeout, application_name, ...).
    :param backend_conn_id: optional connection whose password is the Models Backend token
        (LLMLB_BACKEND_TOKEN); skipped when it does not exist.
    :param slot: worker slot number (the mapped argument of the ``work`` task), exported as
        LLMLB_WORKER_SLOT.
    :param execution_timeout_spec: templated duration; empty means "compute it" for ``work``:
        LLMLB_MAX_RUNTIME + LLMLB_DRAIN_TIMEOUT + 60 s, so that Airflow only steps in when llmlb
        overran its own deadline.  Applied in ``pre_execute()``: after rendering, before Airflow
        arms the timeout.

    Nothing secret is put into ``bash_command`` or ``env`` (the templated fields): the libpq
    variables and the token are added in ``get_env()``, which runs inside ``execute()``.
    """

    template_fields = (*BashOperator.template_fields, "execution_timeout_spec")

    def __init__(
        self,
        *,
        conn_id: str = DEFAULT_CONN_ID,
        backend_conn_id: str | None = DEFAULT_BACKEND_CONN_ID,
        slot: int | None = None,
        execution_timeout_spec: str = "",
        **kwargs,
    ) -> None:
        kwargs.setdefault("append_env", True)
        if "skip_on_exit_code" in _BASH_INIT_PARAMS:  # no exit code of llmlb means "skipped"
            kwargs.setdefault("skip_on_exit_code", None)
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.backend_conn_id = backend_conn_id
        self.slot = slot
        self.execution_timeout_spec = execution_timeout_spec

    # -- before execute (templates are rendered, the timeout is not armed yet) --------------------

    def pre_execute(self, context):
        super().pre_execute(context)
        env = self.env or {}
        spec = (self.execution_timeout_spec or "").strip()
        try:
            if spec:
                self.execution_timeout = parse_duration(spec)
            elif "LLMLB_MAX_RUNTIME" in env:
                self.execution_timeout = (
                    parse_duration(env["LLMLB_MAX_RUNTIME"])
                    + parse_duration(env.get("LLMLB_DRAIN_TIMEOUT") or "30s")
                    + timedelta(seconds=60)
                )
        except ValueError as e:
            raise AirflowFailException(f"bad llmlb setting: {e}") from None
        if self.execution_timeout is not None:
            self.log.info("execution_timeout for this try: %s", self.execution_timeout)

    # -- environment: secrets only here, at execute time ------------------------------------------

    def get_env(self, context) -> dict:
        env = super().get_env(context)
        # The connection alone decides where llmlb connects: drop inherited libpq/llmlb DB settings.
        for key in list(env):
            if key.startswith("PG") or key == "LLMLB_DATABASE_URL":
                del env[key]
        env.update(libpq_env(BaseHook.get_connection(self.conn_id)))
        if self.backend_conn_id:
            try:
                backend = BaseHook.get_connection(self.backend_conn_id)
            except AirflowNotFoundException:
                backend = None
            if backend is not None and backend.password:
                env["LLMLB_BACKEND_TOKEN"] = backend.password
        for key in ("LLMLB_BACKEND_URL", "LLMLB_BIN"):  # empty: keep the worker's own setting
            if key in env and not env[key]:
                del env[key]
        env.setdefault("LLMLB_BIN", "llmlb")
        if self.slot is not None:
            env["LLMLB_WORKER_SLOT"] = str(self.slot)
        return env

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException:
            proc = self.subprocess_hook.sub_process
            if proc is not None and proc.returncode == 2:
                raise AirflowFailException("llmlb exited 2 (usage or configuration error); not retrying")
            raise

    # -- stopping: SIGTERM, then wait for llmlb to release its tasks ------------------------------

    def on_kill(self) -> None:
        proc = getattr(self.subprocess_hook, "sub_process", None)
        if proc is None or proc.poll() is not None:
            return
        try:
            grace = parse_duration((self.env or {}).get("LLMLB_TERM_GRACE") or "20s").total_seconds()
        except ValueError:
            grace = 20.0
        stages = (
            (signal.SIGTERM, grace + 10, "SIGTERM: llmlb stops claiming, drains, releases the rest"),
            (signal.SIGTERM, 15, "second SIGTERM: llmlb releases everything and exits at once"),
            (signal.SIGKILL, 5, "SIGKILL: leases left behind expire by lease_expires_at"),
        )
        reader = _PipeLogger(proc, self.log)
        try:
            for sig, wait_s, what in stages:
                self.log.warning("stopping llmlb pid %s (%s)", proc.pid, what)
                try:
                    os.killpg(proc.pid, sig)  # start_new_session: the group id is llmlb's pid
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        finally:
            reader.stop()
        self.log.info("llmlb pid %s ended with exit code %s", proc.pid, proc.poll())


class _PipeLogger:
    """Logs what llmlb still writes while it shuts down (reads the raw pipe: no buffer lock)."""

    def __init__(self, proc, log) -> None:
        self._stop = threading.Event()
        self._log = log
        self._fd = proc.stdout.fileno() if proc.stdout is not None and not proc.stdout.closed else None
        self._thread = None
        if self._fd is not None:
            self._thread = threading.Thread(target=self._run, name="llmlb-drain-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(self._fd, 65536)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._log.info("%s", line.decode("utf-8", errors="backslashreplace").rstrip())
        if pending:
            self._log.info("%s", pending.decode("utf-8", errors="backslashreplace").rstrip())

    def stop(self) -> None:
        if self._thread is not None:
            deadline = time.monotonic() + 2
            while self._thread.is_alive() and time.monotonic() < deadline:
                self._thread.join(0.1)
            self._stop.set()
            self._thread.join(1)


WORK_COMMAND = (
    "set -f; "  # LLMLB_WORK_ARGS is split into words, never globbed or evaluated
    'exec "$LLMLB_BIN" work --max-runtime "$LLMLB_MAX_RUNTIME" '
    '--drain-timeout "$LLMLB_DRAIN_TIMEOUT" --term-grace "$LLMLB_TERM_GRACE" $LLMLB_WORK_ARGS'
)
# Read-only: the workers' role needs no DDL rights; `llmlb migrate` runs at install/upgrade.
MIGRATE_COMMAND = 'exec "$LLMLB_BIN" migrate --check'

DAG_DOC = """
Continuous llmlb workers: `migrate` (beside `slots`), then `work` mapped over N slots, each running
`llmlb work --max-runtime ...`. {timing} Quotas are global (PostgreSQL), so runs and slots may
overlap freely. Connection `{conn_id}` (PostgreSQL), pool `{pool}` (give it 2 N slots), Variables
`llmlb_*`: see docs/airflow.md.
"""


def format_duration(d: timedelta) -> str:
    """timedelta -> llmlb duration ('4m30s', '20s', '250ms')."""
    ms = round(d.total_seconds() * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (sec, "s")) if v) or "0s"


FROM_PERIOD = "from-period"  # build_llmlb_dag(schedule=...) default: a timedelta schedule of `period`


def build_llmlb_dag(
    dag_id: str = "llmlb",
    *,
    conn_id: str = DEFAULT_CONN_ID,
    backend_conn_id: str | None = DEFAULT_BACKEND_CONN_ID,
    pool: str = DEFAULT_POOL,
    period: timedelta | None = timedelta(minutes=4),
    overlap: timedelta = timedelta(seconds=30),
    schedule=FROM_PERIOD,
    retries: int = 2,
    retry_delay: timedelta = timedelta(seconds=30),
    max_active_runs: int | None = None,
    max_active_tasks: int = 64,
    migrate_timeout: timedelta = timedelta(minutes=5),
    tags: list[str] | None = None,
):
    """The llmlb DAG.  Structural settings are arguments; runtime settings are params/Variables.

    Shipped timing: a run starts every ``period`` (``schedule=period``, no catch-up) and its slots
    run ``--max-runtime period + overlap`` (the default of ``llmlb_max_runtime``), so consecutive
    runs overlap by ``overlap`` plus the drain and nobody waits for a run boundary;
    ``max_active_runs=2`` bounds the pile-up when runs last longer than expected (at most 2 N
    ``work`` processes, and the pool caps them over all runs).  ``schedule`` (e.g. "@continuous",
    which needs ``max_active_runs=1``, or None for manual runs only) replaces ``period``; then
    ``max_runtime`` defaults to 4m.
    """
    if schedule is FROM_PERIOD:
        schedule = period
    if max_active_runs is None:
        max_active_runs = 2 if isinstance(schedule, timedelta) else 1
    if isinstance(schedule, timedelta):
        default_runtime = format_duration(schedule + overlap)
        timing = (
            f"A run starts every {format_duration(schedule)}; each slot runs --max-runtime "
            f"{default_runtime} by default, so consecutive runs overlap (max_active_runs={max_active_runs})."
        )
    else:
        default_runtime = "4m"
        timing = f"Schedule {schedule!r}, max_active_runs={max_active_runs}."
    params = {
        name: Param(None, type=["null", "string", "integer"], description=f"overrides Variable llmlb_{name}")
        for name in SETTING_DEFAULTS
    }
    params["until_empty"] = Param(False, type="boolean", description="pass --until-empty to llmlb work")
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=max_active_runs,
        max_active_tasks=max_active_tasks,
        params=params,
        tags=tags if tags is not None else ["llmlb"],
        doc_md=DAG_DOC.format(conn_id=conn_id, pool=pool, timing=timing),
        default_args={"retries": retries, "retry_delay": retry_delay, "owner": "llmlb"},
    ) as dag:
        migrate = LlmlbOperator(
            task_id="migrate",
            conn_id=conn_id,
            backend_conn_id=None,
            bash_command=MIGRATE_COMMAND,
            env={"LLMLB_BIN": setting("binary")},
            execution_timeout=migrate_timeout,
        )

        @task(task_id="slots")
        def slots(workers) -> list[int]:
            try:
                n = int(str(workers).strip())
            except ValueError:
                raise AirflowFailException(f"llmlb workers must be an integer, got {workers!r}") from None
            if n < 1:
                raise AirflowFailException(f"llmlb workers must be >= 1, got {n}")
            return list(range(n))

        slot_list = slots(setting("workers"))  # runs beside migrate: one scheduling hop less

        work = LlmlbOperator.partial(
            task_id="work",
            conn_id=conn_id,
            backend_conn_id=backend_conn_id,
            pool=pool,
            bash_command=WORK_COMMAND,
            env={
                "LLMLB_BIN": setting("binary"),
                "LLMLB_BACKEND_URL": setting("backend_url"),
                "LLMLB_MAX_RUNTIME": setting("max_runtime", default_runtime),
                "LLMLB_DRAIN_TIMEOUT": setting("drain_timeout"),
                "LLMLB_TERM_GRACE": setting("term_grace"),
                "LLMLB_WORK_ARGS": "{{ '--until-empty ' if params.until_empty else '' }}" + setting("work_args"),
            },
            execution_timeout_spec=setting("execution_timeout"),
            execution_timeout=timedelta(hours=2),  # replaced in pre_execute (see LlmlbOperator)
        ).expand(slot=slot_list)
        migrate >> work

    return dag
