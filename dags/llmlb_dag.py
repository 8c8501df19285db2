"""llmlb workers under Airflow: many short, continuous `llmlb work` invocations.

Run shape: `migrate` and `slots`, then `work` (mapped over N slots); `schedule="@continuous"` with
`max_active_runs=1`: a new run starts as soon as the previous one ended.  Each `work` slot runs
`llmlb work --max-runtime ... --drain-timeout ...`; the pool caps how many run at once.

Needs: Connection `llmlb_db` (PostgreSQL), pool `llmlb`, Variable `llmlb_backend_url` (or
LLMLB_BACKEND_URL in the workers' environment); optional Variables `llmlb_binary`, `llmlb_workers`,
`llmlb_max_runtime`, ... (see docs/airflow.md).  `llmlb_airflow.py` must sit beside this file.
"""

try:
    from llmlb_airflow import build_llmlb_dag
except ImportError:  # parsed without the DAG folder on sys.path (e.g. a bare DagBag(dag_folder=...))
    import os
    import sys

    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from llmlb_airflow import build_llmlb_dag

dag = build_llmlb_dag("llmlb")
