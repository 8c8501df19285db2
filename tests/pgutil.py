"""Small PostgreSQL helpers shared by the black-box tests, the benchmarks and the demo."""
from __future__ import annotations

import time

import psycopg


def drop_database(admin_url: str, name: str, attempts: int = 40) -> None:
    """DROP DATABASE IF EXISTS ... WITH (FORCE), connected to ``admin_url``.

    PostgreSQL 15 refuses FORCE to a non-superuser while an autovacuum worker (which has no role)
    is in the database. A plain DROP DATABASE stops such a worker itself, so fall back to it, and
    try again every 0.25 s while other sessions linger. Raises the last error after ``attempts``.
    """
    quoted = '"' + name.replace('"', '""') + '"'
    for attempt in range(attempts):
        try:
            with psycopg.connect(admin_url, autocommit=True) as a:
                try:
                    a.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
                except psycopg.errors.InsufficientPrivilege:
                    a.execute(f"DROP DATABASE IF EXISTS {quoted}")
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)
