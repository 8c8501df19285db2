"""Helpers of tests/airflow/run_checks.sh (stdlib only, except `dagbag`, which needs Airflow).

Subcommands (each prints what it found; exit status 0 = check passed):

  dagbag DAGS_DIR                 parse DAGS_DIR with Airflow's DagBag; check the llmlb DAG's shape
  ti-states AIRFLOW_DB DAG_ID     "task_id map_index state try_number" of the DAG's latest run
  rtif AIRFLOW_DB SECRET          rendered template fields: recorded, non-secret, no libpq/secret keys
  cron-vars DOC                   names of the variables the documented crontab sets, one a line
  cron-command DOC                the command part of the documented crontab line, exactly as written
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

CRON_BEGIN = "<!-- cron-line -->"
CRON_END = "<!-- /cron-line -->"
_CRON_LINE = re.compile(r"^\s*(?:\S+\s+){5}(?P<command>\S.*)$")
_CRON_VAR = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


def cron_block(doc: str) -> list[str]:
    """The crontab lines between the markers (fences, comments and blank lines dropped)."""
    text = Path(doc).read_text(encoding="utf-8")
    if text.count(CRON_BEGIN) != 1 or text.count(CRON_END) != 1:
        raise SystemExit(f"{doc}: expected exactly one {CRON_BEGIN} ... {CRON_END} block")
    block = text.split(CRON_BEGIN, 1)[1].split(CRON_END, 1)[0]
    return [
        line
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith(("```", "#"))
    ]


def cron_schedule_lines(doc: str) -> list[str]:
    return [
        line
        for line in cron_block(doc)
        if not _CRON_VAR.match(line) and all(_CRON_FIELD.match(f) for f in line.split()[:5])
    ]


def cmd_cron_vars(doc: str) -> int:
    for line in cron_block(doc):
        m = _CRON_VAR.match(line)
        if m:
            print(m.group("name"))
    return 0


def cmd_cron_command(doc: str) -> int:
    lines = cron_schedule_lines(doc)
    if len(lines) != 1:
        print(f"expected exactly one schedule line in the cron block, found {len(lines)}", file=sys.stderr)
        return 1
    command = _CRON_LINE.match(lines[0]).group("command")
    if re.search(r"(?<!\\)%", command):
        print("the cron command has an unescaped %: cron would turn it into a newline", file=sys.stderr)
        return 1
    print(command)
    return 0


def cmd_dagbag(dags_dir: str) -> int:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2

    try:
        bag = DagBag(dag_folder=dags_dir, include_examples=False)  # Airflow 2
    except TypeError:
        bag = DagBag(dag_folder=dags_dir)  # Airflow 3: examples follow [core] load_examples
    problems = [f"import error in {path}: {err}" for path, err in bag.import_errors.items()]
    dag = bag.dags.get("llmlb")
    if dag is None:
        problems.append(f"DAG 'llmlb' not found; DAGs: {sorted(bag.dags)}")
    else:
        tasks = {t.task_id: t for t in dag.tasks}
        if sorted(tasks) != ["migrate", "slots", "work"]:
            problems.append(f"tasks: {sorted(tasks)}")
        else:
            work, migrate = tasks["work"], tasks["migrate"]
            checks = {
                "schedule is every 4 minutes, no catch-up": "Delta" in type(dag.timetable).__name__
                and getattr(dag.timetable, "delta", getattr(dag.timetable, "_delta", None)) == timedelta(minutes=4)
                and not dag.catchup,
                "max_active_runs == 2 (runs overlap, bounded)": dag.max_active_runs == 2,
                "work's max_runtime defaults to period + 30s (4m30s)": "'llmlb_max_runtime', '4m30s'"
                in str(work.partial_kwargs.get("env", {}).get("LLMLB_MAX_RUNTIME")),
                "migrate and slots are upstream of work": {"migrate", "slots"} <= set(work.upstream_task_ids),
                "work is mapped (expand)": type(work).__name__ == "MappedOperator",
                "work runs in pool 'llmlb'": work.pool == "llmlb",
                "work retries with a delay": (work.retries or 0) > 0 and work.retry_delay.total_seconds() > 0,
                "work has an execution_timeout": work.execution_timeout is not None,
                "migrate has an execution_timeout": migrate.execution_timeout is not None,
                "bash_command has no connection template": "conn." not in str(work.partial_kwargs)
                and "password" not in str(work.partial_kwargs).lower(),
            }
            problems += [f"not true: {name}" for name, ok in checks.items() if not ok]
    print(f"DagBag({dags_dir}): {len(bag.dags)} DAGs {sorted(bag.dags)}, {len(bag.import_errors)} import errors")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


def _latest_run(db: sqlite3.Connection, dag_id: str) -> str:
    row = db.execute(
        "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
    ).fetchone()
    if row is None:
        raise SystemExit(f"no run of {dag_id}")
    return row[0]


def cmd_ti_states(airflow_db: str, dag_id: str) -> int:
    db = sqlite3.connect(airflow_db)
    run_id = _latest_run(db, dag_id)
    for row in db.execute(
        "SELECT task_id, map_index, state, try_number FROM task_instance "
        "WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index",
        (dag_id, run_id),
    ):
        print(*row)
    return 0


def cmd_rtif(airflow_db: str, secret: str) -> int:
    db = sqlite3.connect(airflow_db)
    rows = db.execute(
        "SELECT dag_id, task_id, map_index, rendered_fields FROM rendered_task_instance_fields"
    ).fetchall()
    problems = []
    work_rows = [r for r in rows if r[1] == "work"]
    if not work_rows:
        problems.append("no rendered fields recorded for a work task")
    for dag_id, task_id, map_index, fields in rows:
        where = f"{dag_id}.{task_id}[{map_index}]"
        if secret in fields:
            problems.append(f"{where}: the password is in the rendered fields")
        env = (json.loads(fields) or {}).get("env") or {}
        bad = [k for k in env if k.startswith("PG") or re.search("PASS|TOKEN|SECRET|DATABASE_URL", k)]
        if bad:
            problems.append(f"{where}: rendered env has {bad}")
        if task_id == "work" and "LLMLB_MAX_RUNTIME" not in env:
            problems.append(f"{where}: rendered env lacks LLMLB_MAX_RUNTIME: {env}")
    print(f"rendered fields: {len(rows)} rows ({len(work_rows)} of work tasks)")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    commands = {
        "dagbag": cmd_dagbag,
        "ti-states": cmd_ti_states,
        "rtif": cmd_rtif,
        "cron-vars": cmd_cron_vars,
        "cron-command": cmd_cron_command,
    }
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
