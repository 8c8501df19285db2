"""Test-only DAG for tests/airflow/run_checks.sh: the production DAG with retries=0, no schedule.

Same operator, same tasks, same params as dags/llmlb_dag.py; only the retries differ, so that
`airflow dags test` of the execution_timeout check ends after the first (timed-out) try instead of
waiting for retry_delay and running the retries.  Never deployed.
"""

try:
    from llmlb_airflow import build_llmlb_dag
except ImportError:  # parsed without the DAG folder on sys.path (a bare DagBag)
    import os
    import sys

    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from llmlb_airflow import build_llmlb_dag

dag = build_llmlb_dag("llmlb_check", schedule=None, retries=0, tags=["llmlb", "test"])
