"""llmlb workers under Airflow: many short, continuous `llmlb work` invocations.

Run shape: `migrate` and `slots`, then `work` (mapped over N slots). A run starts every 4 minutes
and its slots run `llmlb work --max-runtime 4m30s --drain-timeout 30s`, so consecutive runs overlap
and some slots are always claiming; `max_active_runs=2` and the pool (2 N slots) bound how many
llmlb processes run at once.

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
