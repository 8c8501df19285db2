"""Issue 13: versioned migrations applied once, function files re-applied by checksum, and the
upgrade of a database migrated by the previous release (15f32ab)."""
from __future__ import annotations

import re

from .conftest import (ROOT, assert_all_answers_match, fresh_database, llmlb, migrate_concurrently,
                       load_release_schema, set_limits)

SQL = ROOT / "sql"
VERSIONED = sorted(p.name for p in (SQL / "migrations").glob("*.sql"))
FUNCTION_FILES = sorted(str(p.relative_to(SQL)) for p in [*SQL.glob("functions/*.sql"),
                                                           *SQL.glob("views/*.sql")])


def functions_of(db):
    """Every function in schema llmlb: signature -> pg_get_functiondef."""
    return dict(db.sql(
        "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'llmlb'"))


def views_of(db):
    return dict(db.sql(
        "SELECT c.oid::regclass::text, pg_get_viewdef(c.oid) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'llmlb'"
        " AND c.relkind = 'v'"))


def triggers_of(db):
    return sorted(r[0] for r in db.sql(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal"))


def tables_of(db):
    """Columns and indexes of llmlb's tables and public.tasks (ledger excepted)."""
    cols = db.sql(
        "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE (table_schema = 'llmlb' OR table_name = 'tasks')"
        " AND table_name NOT IN ('schema_migrations', 'live_leases') ORDER BY 1, 2, 3")
    idx = db.sql("SELECT schemaname, indexname, indexdef FROM pg_indexes"
                 " WHERE schemaname = 'llmlb' OR tablename = 'tasks' ORDER BY 1, 2")
    return cols, idx


def ledger_of(db):
    return db.sql("SELECT name, kind, checksum, applied_at FROM llmlb.schema_migrations"
                  " ORDER BY name")


def test_every_function_and_view_is_defined_in_exactly_one_file():
    definers = {}
    for path in SQL.rglob("*.sql"):
        text = path.read_text()
        for kind, name in re.findall(
                r"CREATE (?:OR REPLACE )?(FUNCTION|VIEW) llmlb\.(\w+)", text):
            definers.setdefault(name, set()).add(str(path.relative_to(SQL)))
    assert definers, "no function found under sql/"
    for name, paths in definers.items():
        assert len(paths) == 1, f"{name} is defined in {sorted(paths)}"
        (path,) = paths
        assert path.startswith(("functions/", "views/")), f"{name} is defined in {path}"
    # Versioned migrations hold tables, indexes, constraints, sequences and data only.
    for name in VERSIONED:
        text = (SQL / "migrations" / name).read_text()
        assert not re.search(r"\b(FUNCTION|VIEW|TRIGGER)\b", text), name


def test_fresh_database_has_exactly_the_shipped_functions(migrated):
    shipped = set()
    for f in FUNCTION_FILES:
        shipped |= set(re.findall(r"CREATE (?:OR REPLACE )?(?:FUNCTION|VIEW) llmlb\.(\w+)",
                                  (SQL / f).read_text()))
    names = {sig.split("(")[0].removeprefix("llmlb.") for sig in functions_of(migrated)}
    names |= {v.removeprefix("llmlb.") for v in views_of(migrated)}
    assert names == shipped
    # One signature per function: no overloads left behind.
    assert len(functions_of(migrated)) == len([n for n in shipped if n != "live_leases"])
    rows = migrated.sql("SELECT name, kind, checksum IS NOT NULL FROM llmlb.schema_migrations"
                        " ORDER BY name")
    assert rows == sorted([(v, "versioned", False) for v in VERSIONED]
                          + [(f, "function", True) for f in FUNCTION_FILES])


def test_upgrade_from_release_15f32ab_then_work(db, backend_factory):
    load_release_schema(db)
    released = ("001_schema.sql", "002_functions.sql", "003_claim_fast_start.sql",
                "004_claim_by_index.sql")
    assert db.sql("SELECT name FROM llmlb.schema_migrations ORDER BY name") == \
        [(n,) for n in released]
    new_versioned = [n for n in VERSIONED if n not in released]
    assert "llmlb.live_leases" not in views_of(db)
    # Every command but migrate asks for the upgrade first.
    p = llmlb("limits", "list", db_url=db.url)
    assert p.returncode == 2, p.stderr
    pending = len(FUNCTION_FILES) + len(new_versioned)
    assert f"not up to date ({pending} migration(s) pending)" in p.stderr

    # A cooldown that the release wrote from an unbounded Retry-After (until 2058).
    db.sql("INSERT INTO llmlb.models (name, rpm, burst, max_inflight) VALUES ('slow', 60, 1, 1)")
    db.sql("INSERT INTO llmlb.quota (model_id, tokens, refilled_at, cooldown_until)"
           " SELECT id, 0, now(), timestamptz '2058-09-01' FROM llmlb.models")

    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert (f"applied {len(new_versioned)} migration(s) and {len(FUNCTION_FILES)} function file(s)"
            in p.stdout)
    assert db.one("SELECT cooldown_until <= now() + interval '1 hour 1 minute'"
                  " FROM llmlb.quota") is True
    db.sql("DELETE FROM llmlb.models WHERE name = 'slow'")
    assert "functions/claim.sql" in p.stdout

    with fresh_database() as fresh:
        llmlb("migrate", db_url=fresh.url, check=True)
        assert functions_of(db) == functions_of(fresh)
        assert views_of(db) == views_of(fresh)
        assert triggers_of(db) == triggers_of(fresh)
        assert tables_of(db) == tables_of(fresh)
        assert [r[:3] for r in ledger_of(db)] == [r[:3] for r in ledger_of(fresh)]

    before = ledger_of(db)
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert "up to date" in p.stdout and "applied" not in p.stdout
    assert ledger_of(db) == before

    # A small work round on the upgraded database.
    set_limits(db.url, "m0", 6000, burst=10, max_inflight=5)
    set_limits(db.url, "m1", 6000, burst=10, max_inflight=5, preference=1)
    db.insert_tasks([f"after upgrade {i}" for i in range(30)])
    db.insert_tasks([f"pinned {i}" for i in range(5)], model="m1")
    backend = backend_factory(time_scale=0.005, seed=3)
    p = llmlb("work", "--backend-url", backend.url, "--until-empty", db_url=db.url, timeout=60)
    assert p.returncode == 0, p.stderr
    assert db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 35
    assert db.one("SELECT count(*) FROM llmlb.live_leases") == 0
    assert_all_answers_match(db)


def test_concurrent_upgrades_apply_the_functions_once(db):
    load_release_schema(db)
    results = migrate_concurrently(db.url)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sum("function file(s)" in r.stdout for r in results) == 1
    assert sum("up to date" in r.stdout for r in results) == 3


def test_a_changed_function_file_is_pending_until_migrate(migrated):
    """Simulates a binary whose claim.sql differs from what the database last applied."""
    db = migrated
    db.sql("UPDATE llmlb.schema_migrations SET checksum = repeat('0', 64)"
           " WHERE name = 'functions/claim.sql'")
    for args in (["limits", "list"], ["status"], ["work", "--backend-url", "http://127.0.0.1:9"]):
        p = llmlb(*args, db_url=db.url)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.strip() == ("llmlb: error: the llmlb schema is not up to date"
                                    " (1 migration(s) pending); run `llmlb migrate`")
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert "applied 0 migration(s) and 1 function file(s): functions/claim.sql" in p.stdout
    assert llmlb("limits", "list", db_url=db.url).returncode == 0
    # A function file missing from the ledger is pending as well.
    db.sql("DELETE FROM llmlb.schema_migrations WHERE name = 'views/live_leases.sql'")
    assert llmlb("limits", "list", db_url=db.url).returncode == 2
    p = llmlb("migrate", db_url=db.url, check=True)
    assert "views/live_leases.sql" in p.stdout


def test_migrate_trusts_the_ledger_over_a_function_edited_by_hand(migrated):
    """A function replaced by hand while its file (and so the ledger's checksum) is unchanged is
    left alone: migrate compares checksums, not the database's text. Clearing the checksum makes
    migrate restore the shipped text."""
    db = migrated
    shipped = functions_of(db)
    db.sql("CREATE OR REPLACE FUNCTION llmlb.delivery_jitter_seconds() RETURNS double precision"
           " LANGUAGE sql IMMUTABLE AS $$ SELECT 0.5::double precision $$")
    p = llmlb("migrate", db_url=db.url, check=True)
    assert "up to date" in p.stdout
    assert db.one("SELECT llmlb.delivery_jitter_seconds()") == 0.5
    assert llmlb("limits", "list", db_url=db.url).returncode == 0  # not reported as pending
    db.sql("UPDATE llmlb.schema_migrations SET checksum = NULL"
           " WHERE name = 'functions/delivery_jitter_seconds.sql'")
    p = llmlb("migrate", db_url=db.url, check=True)
    assert "functions/delivery_jitter_seconds.sql" in p.stdout
    assert db.one("SELECT llmlb.delivery_jitter_seconds()") == 0.15
    assert functions_of(db) == shipped


def test_a_function_file_this_binary_does_not_ship_stops_migrate(migrated):
    """A ledger naming a function file the binary lacks was migrated by a newer llmlb: migrate
    refuses (exit 1) and changes nothing; other commands still run."""
    db = migrated
    db.sql("INSERT INTO llmlb.schema_migrations (name, kind, checksum)"
           " VALUES ('functions/from_the_future.sql', 'function', repeat('a', 64))")
    before = ledger_of(db)
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 1
    assert "function file functions/from_the_future.sql" in p.stderr and "upgrade llmlb" in p.stderr
    assert ledger_of(db) == before
    assert llmlb("limits", "list", db_url=db.url).returncode == 0


def test_a_failing_function_file_rolls_back_the_whole_migrate(migrated):
    db = migrated
    db.sql("UPDATE llmlb.schema_migrations SET checksum = NULL WHERE kind = 'function'")
    before = ledger_of(db)
    # CREATE OR REPLACE VIEW cannot drop a column: give the existing view one more.
    db.sql("DROP VIEW llmlb.live_leases")
    db.sql("CREATE VIEW llmlb.live_leases AS SELECT 1::bigint AS task_id, 'x'::text AS model,"
           " 'w'::text AS worker, 1::bigint AS token, now() AS leased_at, now() AS expires_at,"
           " 0 AS extra")
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 1
    assert "migration views/live_leases.sql failed, nothing was applied" in p.stderr
    assert ledger_of(db) == before
