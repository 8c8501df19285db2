"""Issue 2: migrate, limits, enqueue, configuration and exit codes, run as a user would."""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from .conftest import BIN, ROOT, llmlb, migrate_concurrently, set_limits

# Every file in sql/migrations/ is one versioned migration, and every file in sql/functions/ and
# sql/views/ one function file, compiled into the binary.
MIGRATIONS = len(list((ROOT / "sql" / "migrations").glob("*.sql")))
FUNCTIONS = len(list((ROOT / "sql").glob("functions/*.sql"))) + \
    len(list((ROOT / "sql").glob("views/*.sql")))


def test_version_and_help_on_every_command():
    p = llmlb("--version")
    assert p.returncode == 0 and p.stdout.startswith("llmlb ")
    for cmd in (["migrate"], ["limits", "set"], ["limits", "list"], ["enqueue"], ["work"]):
        h = llmlb(*cmd, "--help")
        assert h.returncode == 0, cmd
        assert "Example" in h.stdout, cmd


@pytest.mark.parametrize("stray", ["postgresql://u:Secr3tPw@db.example/x",
                                   "host=db password=Secr3tPw", "http://alice:Secr3tPw@h/"])
def test_a_stray_argument_with_a_password_is_not_echoed(stray):
    p = llmlb("migrate", stray)
    assert p.returncode == 2, p.stderr
    assert "Secr3tPw" not in p.stderr + p.stdout
    assert "llmlb: error:" in p.stderr


def test_unknown_command_is_a_usage_error():
    p = llmlb("frobnicate")
    assert p.returncode == 2
    assert p.stderr.startswith("llmlb: error: ")


def test_migrate_twice_changes_nothing(db):
    first = llmlb("migrate", db_url=db.url)
    assert first.returncode == 0, first.stderr
    assert f"applied {MIGRATIONS} migration(s) and {FUNCTIONS} function file(s)" in first.stdout
    before = db.sql("SELECT name, applied_at FROM llmlb.schema_migrations ORDER BY name")
    second = llmlb("migrate", db_url=db.url)
    assert second.returncode == 0
    assert "up to date" in second.stdout
    assert db.sql("SELECT name, applied_at FROM llmlb.schema_migrations ORDER BY name") == before


def test_two_migrations_at_once_are_safe(db):
    results = migrate_concurrently(db.url)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sum(f"applied {MIGRATIONS}" in r.stdout for r in results) == 1
    assert sum("up to date" in r.stdout for r in results) == 3
    assert db.sql("SELECT kind, count(*) FROM llmlb.schema_migrations GROUP BY kind ORDER BY 1") \
        == [("function", FUNCTIONS), ("versioned", MIGRATIONS)]


def test_plain_insert_works_on_migrated_database(migrated):
    migrated.sql("INSERT INTO tasks (prompt) VALUES ('x')")
    row = migrated.sql("SELECT status, model, priority, attempts, created_at IS NOT NULL FROM tasks")
    assert row == [("unsolved", None, 0, 0, True)]


def test_migrate_adds_columns_to_an_existing_tasks_table(db):
    db.sql("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, source text)")
    db.sql("INSERT INTO tasks (prompt, source) VALUES ('old', 'crm')")
    assert llmlb("migrate", db_url=db.url).returncode == 0
    assert db.sql("SELECT id, prompt, source, status, attempts FROM tasks") == [
        (1, "old", "crm", "unsolved", 0)]
    db.sql("INSERT INTO tasks (prompt, model, priority) VALUES ('new', 'm0', 3)")


@pytest.mark.parametrize("args, message", [
    (["--rpm", "-5"], "invalid --rpm '-5'"),
    (["--rpm", "abc"], "invalid --rpm 'abc'"),
    (["--rpm", "0"], "invalid --rpm '0'"),
    (["--rpm", "nan"], "invalid --rpm 'nan'"),
    (["--rpm", "60", "--burst", "0"], "invalid --burst '0'"),
    (["--rpm", "60", "--max-inflight", "1.5"], "invalid --max-inflight '1.5'"),
    (["--rpm", "60", "--enable", "--disable"], "excludes"),
    (["--rpm", "0x10"], "invalid --rpm '0x10'"),
    (["--rpm", " 60"], "invalid --rpm ' 60'"),
    (["--rpm", "inf"], "invalid --rpm 'inf'"),
])
def test_invalid_limits_exit_2_and_change_nothing(migrated, args, message):
    set_limits(migrated.url, "m", 60, burst=3, max_inflight=4)
    before = migrated.sql("SELECT * FROM llmlb.models")
    p = llmlb("limits", "set", "m", *args, db_url=migrated.url)
    assert p.returncode == 2
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 2
    assert migrated.sql("SELECT * FROM llmlb.models") == before


def test_invalid_utf8_model_name_exits_2_and_changes_nothing(migrated):
    p = llmlb("limits", "set", "m\udcff", "--rpm", "60", db_url=migrated.url)
    assert p.returncode == 2, p.stderr
    assert "not valid UTF-8" in p.stderr
    assert migrated.one("SELECT count(*) FROM llmlb.models") == 0


def test_derived_burst_is_bounded_like_an_explicit_one(migrated):
    assert llmlb("limits", "set", "big", "--rpm", "1e9", db_url=migrated.url).returncode == 0
    assert llmlb("limits", "set", "small", "--rpm", "6", db_url=migrated.url).returncode == 0
    bursts = dict(migrated.sql("SELECT name, burst FROM llmlb.models"))
    assert bursts == {"big": 1_000_000, "small": 1}


def test_enable_clears_a_cooldown_and_the_reduced_rate(migrated):
    set_limits(migrated.url, "m", 60)
    migrated.sql("INSERT INTO llmlb.quota (model_id, tokens, refilled_at, cooldown_until,"
                 " rate_factor) SELECT id, 0, now(), now() + interval '30 years', 0.05"
                 " FROM llmlb.models")
    migrated.insert_tasks(["waiting"], model="m")
    s = json.loads(llmlb("status", "--json", db_url=migrated.url).stdout)
    assert s["models"][0]["cooldown_seconds"] > 3600
    # No ETA while the cooldown blocks the only work.
    assert s["eta"]["state"] == "cooldown" and s["eta"]["seconds"] is None
    assert s["eta"]["resumes_in_seconds"] > 3600
    assert "cooling down" in llmlb("status", db_url=migrated.url).stdout
    assert llmlb("limits", "set", "m", "--enable", db_url=migrated.url).returncode == 0
    assert migrated.sql("SELECT cooldown_until, rate_factor FROM llmlb.quota") == [(None, 1.0)]
    s = json.loads(llmlb("status", "--json", db_url=migrated.url).stdout)
    assert s["models"][0]["cooldown_seconds"] is None and s["eta"]["state"] == "ok"


def _as_postgres(sql, dbname="postgres"):
    """Runs one statement as the superuser through psql (needs root, as in CI)."""
    return subprocess.run(["su", "postgres", "-c", f"psql -qAtX -d {dbname} -v ON_ERROR_STOP=1"],
                          input=sql, text=True, capture_output=True, check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="creates a role as the postgres superuser")
def test_least_privilege_worker_role_from_the_docs(migrated, backend_factory):
    """The grants of docs/operations.md are enough for a worker, status and `migrate --check`;
    that role cannot run `llmlb migrate` itself."""
    doc = (ROOT / "docs" / "operations.md").read_text()
    block = doc.split("<!-- worker-role-grants")[1].split("```sql\n")[1].split("```")[0]
    role = "llmlb_w_" + uuid.uuid4().hex[:10]
    statements = [st.strip() for st in block.replace("llmlb_worker", role).split(";") if st.strip()]
    create = [st for st in statements if st.startswith("CREATE ROLE")]
    assert len(create) == 1
    dbname = urlsplit(migrated.url).path.lstrip("/")
    _as_postgres(create[0].replace("'change-me'", "'w0rker-pw'") + ";")
    try:
        for st in statements:
            if not st.startswith("CREATE ROLE"):
                migrated.sql(st)
        parts = urlsplit(migrated.url)
        url = f"postgresql://{role}:w0rker-pw@{parts.hostname}:{parts.port}/{dbname}"
        set_limits(migrated.url, "m0", 6000, burst=50, max_inflight=20)
        migrated.insert_tasks([f"t{i}" for i in range(20)])
        p = llmlb("migrate", "--check", db_url=url)
        assert p.returncode == 0 and "schema is up to date" in p.stdout, p.stderr
        assert llmlb("migrate", db_url=url).returncode != 0  # no DDL rights
        backend = backend_factory(time_scale=0.01)
        p = llmlb("work", "--backend-url", backend.url, "--until-empty", "--max-runtime", "60s",
                  db_url=url, timeout=90)
        assert p.returncode == 0, p.stderr
        assert migrated.one("SELECT count(*) FROM tasks WHERE status = 'solved'") == 20
        assert llmlb("status", db_url=url).returncode == 0
        assert llmlb("enqueue", "-", input='{"prompt": "x"}\n', db_url=url).returncode == 0
        # Pending work for `migrate`: the check says so and exits 2, changing nothing.
        migrated.sql("UPDATE llmlb.schema_migrations SET checksum = 'x'"
                     " WHERE name = 'functions/claim.sql'")
        p = llmlb("migrate", "--check", db_url=url)
        assert p.returncode == 2 and "run `llmlb migrate`" in p.stderr, p.stderr
        assert migrated.one("SELECT checksum FROM llmlb.schema_migrations"
                            " WHERE name = 'functions/claim.sql'") == "x"
    finally:
        _as_postgres(f"DROP OWNED BY {role};", dbname)
        _as_postgres(f"DROP ROLE {role};")


def test_check_constraints_reject_nonsense_in_plain_sql(migrated):
    import psycopg
    set_limits(migrated.url, "m", 60)
    for bad in ("rpm = -1", "rpm = 'NaN'", "burst = 0", "max_inflight = 0"):
        with pytest.raises(psycopg.errors.CheckViolation):
            migrated.sql(f"UPDATE llmlb.models SET {bad} WHERE name = 'm'")


def test_limits_set_and_list(migrated):
    p = llmlb("limits", "set", "alpha", "--rpm", "120", "--burst", "4", "--max-inflight", "7",
              db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    llmlb("limits", "set", "alpha", "--disable", db_url=migrated.url, check=True)
    llmlb("limits", "set", "beta", "--rpm", "30", "--preference", "1", db_url=migrated.url,
          check=True)
    rows = json.loads(llmlb("limits", "list", "--json", db_url=migrated.url, check=True).stdout)
    assert [r["name"] for r in rows] == ["beta", "alpha"]
    alpha = rows[1]
    assert (alpha["rpm"], alpha["burst"], alpha["max_inflight"], alpha["enabled"]) == (
        120, 4, 7, False)
    assert rows[0]["burst"] == 1  # default: one second of rpm, at least 1
    table = llmlb("limits", "list", db_url=migrated.url, check=True).stdout
    assert "alpha" in table and "beta" in table and "MAX_INFLIGHT" in table


def test_new_model_needs_rpm(migrated):
    p = llmlb("limits", "set", "fresh", "--burst", "3", db_url=migrated.url)
    assert p.returncode == 2 and "--rpm is required" in p.stderr
    assert migrated.one("SELECT count(*) FROM llmlb.models") == 0


def test_enqueue_rejects_a_file_with_errors_unless_skip_invalid(migrated, tmp_path):
    f = tmp_path / "tasks.jsonl"
    f.write_text('{"prompt": "one"}\n'
                 '\n'
                 '{"prompt": 5}\n'
                 '{"prompt": "two", "model": "m1", "priority": 9}\n'
                 'garbage\n'
                 '{"prompt": "x", "colour": "red"}\n'
                 '{"prompt": "   "}\n')
    p = llmlb("enqueue", f, db_url=migrated.url)
    assert p.returncode == 2
    for line in (3, 5, 6, 7):
        assert f"line {line}:" in p.stderr
    assert "nothing was inserted" in p.stderr
    assert migrated.one("SELECT count(*) FROM tasks") == 0
    p = llmlb("enqueue", "--skip-invalid", f, db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert migrated.sql("SELECT prompt, model, priority FROM tasks ORDER BY id") == [
        ("one", None, 0), ("two", "m1", 9)]


def test_enqueue_from_stdin_round_trips_unicode(migrated):
    prompts = ['quote " backslash \\ tab \t', "emoji 😀 and ünïcödé", "ctrl \u0001\u001f"]
    data = "".join(json.dumps({"prompt": p}) + "\n" for p in prompts)
    p = llmlb("enqueue", "-", input=data, db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert [r[0] for r in migrated.sql("SELECT prompt FROM tasks ORDER BY id")] == prompts


def test_enqueue_of_a_directory_is_a_usage_error(migrated, tmp_path):
    p = llmlb("enqueue", tmp_path, db_url=migrated.url)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "is a directory" in p.stderr
    assert migrated.one("SELECT count(*) FROM tasks") == 0


def test_enqueue_missing_file_is_a_usage_error(migrated):
    p = llmlb("enqueue", "/nonexistent/tasks.jsonl", db_url=migrated.url)
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_unreachable_database_names_host_and_hides_password():
    url = "postgresql://llmlb:s3cr3t-pw@127.0.0.1:1/nodb"
    for args in (["migrate"], ["limits", "list"], ["work", "--backend-url", "http://127.0.0.1:9"]):
        p = llmlb(*args, db_url=url)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.count("\n") == 1, p.stderr
        assert '"127.0.0.1"' in p.stderr and '"nodb"' in p.stderr
        assert "s3cr3t-pw" not in p.stderr + p.stdout


def test_malformed_database_url_is_a_usage_error():
    p = llmlb("migrate", db_url="postgresql://u:pw@host:notaport/db?bogus=1")
    assert p.returncode == 2
    assert "pw" not in p.stderr.replace("postgresql", "")


def test_commands_on_unmigrated_database_say_to_migrate(db):
    for args in (["limits", "list"], ["work", "--backend-url", "http://127.0.0.1:9"]):
        p = llmlb(*args, db_url=db.url)
        assert p.returncode == 2, p.stderr
        assert "llmlb migrate" in p.stderr


def test_work_without_backend_url_is_a_usage_error(migrated):
    p = llmlb("work", db_url=migrated.url)
    assert p.returncode == 2 and "backend URL" in p.stderr


@pytest.mark.parametrize("args", [
    ["--max-runtime", "soon"], ["--max-runtime", "1s2"], ["--endpoint", "carrier-pigeon"], ["--poll-interval", "2s"],
    ["--max-inflight-total", "0"], ["--log-format", "xml"], ["--models", "a b"],
])
def test_work_rejects_bad_options(migrated, args):
    migrated.sql("INSERT INTO tasks (prompt) VALUES ('x')")
    p = llmlb("work", "--backend-url", "http://127.0.0.1:9", *args, db_url=migrated.url)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("llmlb: error: ")
    assert migrated.sql("SELECT status, lease_token FROM tasks") == [("unsolved", None)]


def test_binary_exists():
    assert BIN.exists(), f"build the binary first: {BIN}"
