"""Fixtures for black-box tests: the built `llmlb` binary, a fresh PostgreSQL database per
test, and the simulated Models Backend.

Environment:
- LLMLB_BIN: the binary (default: build/cli/llmlb).
- LLMLB_TEST_PG: an admin URL whose role may CREATE DATABASE
  (default: postgresql://llmlb:llmlb@127.0.0.1:5432/llmlb, as made by .ci/setup).
- LLMLB_TEST_FROM_RELEASE=1: the `migrated` fixture first loads the schema of the previous
  release (fixtures/release_15f32ab.sql), so that every test runs on an upgraded database.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.pgutil import drop_database
from tests.sim_backend.answers import answer_for
from tests.sim_backend.harness import running_backend

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LLMLB_BIN", ROOT / "build" / "cli" / "llmlb"))
ADMIN_URL = os.environ.get("LLMLB_TEST_PG", "postgresql://llmlb:llmlb@127.0.0.1:5432/llmlb")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class Database:
    """A fresh database; `url` points at it. `sql` runs one statement and returns its rows."""

    def __init__(self, url: str):
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)

    def sql(self, query: str, params=None):
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def one(self, query: str, params=None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def insert_tasks(self, prompts, model=None, priority=0):
        """Inserts tasks the way ingestion does; returns their ids."""
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO tasks (prompt, model, priority) VALUES (%s, %s, %s)",
                            [(p, model, priority) for p in prompts])
        return [r[0] for r in self.sql("SELECT id FROM tasks ORDER BY id")]

    def close(self):
        self.conn.close()


def _admin():
    return psycopg.connect(ADMIN_URL, autocommit=True)


@contextlib.contextmanager
def fresh_database():
    name = "llmlb_t_" + uuid.uuid4().hex[:12]
    with _admin() as a:
        a.execute(f'CREATE DATABASE "{name}"')
    db = Database(_with_db(ADMIN_URL, name))
    try:
        yield db
    finally:
        db.close()
        drop_database(ADMIN_URL, name)


@pytest.fixture
def db():
    """A fresh, empty (unmigrated) database, dropped after the test."""
    with fresh_database() as d:
        yield d


# LLMLB_TEST_POOLER=host:port: the binary reaches the test server's databases through a
# connection pooler there (e.g. PgBouncer in session mode), while the tests' own queries go to
# PostgreSQL directly. Servers that tests start themselves are reached directly.
POOLER = os.environ.get("LLMLB_TEST_POOLER")


def binary_url(url: str) -> str:
    """The URL the binary is given for ``url``: through LLMLB_TEST_POOLER when it is set and
    ``url`` is on ADMIN_URL's server."""
    parts, admin = urlsplit(url), urlsplit(ADMIN_URL)
    try:
        if not POOLER or (parts.hostname, parts.port) != (admin.hostname, admin.port):
            return url
    except ValueError:  # not a valid URL (tests of bad input): pass it on as it is
        return url
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, userinfo + POOLER, parts.path, parts.query, parts.fragment))


def llmlb(*args, env=None, input=None, timeout=120, db_url=None, check=False):
    """Runs the binary; returns CompletedProcess with text stdout/stderr."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LLMLB_")}
    if db_url:
        e["LLMLB_DATABASE_URL"] = binary_url(db_url)
    e.update(env or {})
    p = subprocess.run([str(BIN), *map(str, args)], env=e, input=input, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"llmlb {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def start_llmlb(*args, db_url=None, env=None, log=None):
    """Starts the binary in the background (its own process group); returns Popen."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LLMLB_")}
    if db_url:
        e["LLMLB_DATABASE_URL"] = binary_url(db_url)
    e.update(env or {})
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen([str(BIN), *map(str, args)], env=e, stdout=out,
                            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc, sig=signal.SIGTERM, timeout=30):
    """Signals one process we started (by PID) and waits for it; returns its exit code."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


# The schema and ledger that `llmlb migrate` of release 15f32ab (versioned migrations 001-004,
# no function files) creates: pg_dump --no-owner --no-privileges --inserts of a fresh database.
RELEASE_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release_15f32ab.sql"
FROM_RELEASE = os.environ.get("LLMLB_TEST_FROM_RELEASE") == "1"


def load_release_schema(db):
    """Loads RELEASE_FIXTURE into db (empty), on a connection of its own: the dump changes the
    session's search_path."""
    with psycopg.connect(db.url, autocommit=True) as c:
        c.execute(RELEASE_FIXTURE.read_text())


@pytest.fixture
def migrated(db):
    """A fresh database with llmlb's schema (upgraded from the previous release's when
    LLMLB_TEST_FROM_RELEASE=1)."""
    if FROM_RELEASE:
        load_release_schema(db)
    llmlb("migrate", db_url=db.url, check=True)
    return db


@pytest.fixture
def backend_factory():
    """Starts simulated backends: factory(**options) -> Backend; all stopped after the test."""
    stack = contextlib.ExitStack()

    def start(**options):
        return stack.enter_context(running_backend(**options))

    with stack:
        yield start


def set_limits(db_url, model, rpm, burst=None, max_inflight=None, preference=None):
    args = ["limits", "set", model, "--rpm", rpm]
    if burst is not None:
        args += ["--burst", burst]
    if max_inflight is not None:
        args += ["--max-inflight", max_inflight]
    if preference is not None:
        args += ["--preference", preference]
    llmlb(*args, db_url=db_url, check=True)


def assert_all_answers_match(db):
    """Every solved task holds the deterministic answer of (answered_by, prompt)."""
    bad = [(i, m) for i, p, a, m in db.sql(
        "SELECT id, prompt, answer, answered_by FROM tasks WHERE status = 'solved'")
        if a != answer_for(m, p)]
    assert not bad, f"answers that do not belong to their task: {bad[:5]}"


def max_in_window(times, window):
    """The most events in any half-open window [t, t+window) starting at an event."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + window:
            j += 1
        best = max(best, j - i)
    return best


def migrate_concurrently(url, n=4):
    """Runs `llmlb migrate` n times at once on ``url``; returns the CompletedProcesses."""
    import threading
    results = []
    threads = [threading.Thread(target=lambda: results.append(llmlb("migrate", db_url=url)))
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def wait_until(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
