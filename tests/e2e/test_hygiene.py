"""Issue 14: secrets never printed, hostile schemas refused, bounded cooldowns, stricter input."""
from __future__ import annotations

import pytest

from .conftest import llmlb

SECRET = "Secr3tPw"


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@[::1",
    "postgresql://u:Secr%zzPw@127.0.0.1/db",
    f"postgresql://u:{SECRET}%@127.0.0.1/db",
    f"postgresql://u@127.0.0.1/db?password={SECRET}&bogus=1",
    f"host=127.0.0.1 password='{SECRET}",
    f"host=127.0.0.1 password={SECRET} Pw2",
    "postgresql://u:pa/ss-word@127.0.0.1/db",
])
def test_unparsable_database_urls_are_usage_errors_that_hide_the_password(url):
    secrets = [SECRET, "Secr%zzPw", "Pw2", '"pa"', "ss-word"]
    for args in (["migrate"], ["limits", "list"], ["work", "--backend-url", "http://127.0.0.1:9"]):
        p = llmlb(*args, env={"LLMLB_DATABASE_URL": url})
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("llmlb: error: invalid database URL"), p.stderr
        assert p.stderr.count("\n") == 1, p.stderr
        out = p.stdout + p.stderr
        assert not [s for s in secrets if s in out], out


@pytest.mark.parametrize("url, option", [
    (f"postgresql://u:{SECRET}@127.0.0.1:99999/db", "port"),
    (f"postgresql://u:{SECRET}@127.0.0.1/db?sslmode=bogus", "sslmode"),
    (f"host=127.0.0.1 password={SECRET} sslmode=bogus", "sslmode"),
    (f"host=127.0.0.1 password={SECRET} connect_timeout=soon", "connect_timeout"),
])
def test_malformed_connection_options_exit_2(url, option):
    p = llmlb("migrate", env={"LLMLB_DATABASE_URL": url})
    assert p.returncode == 2, p.stderr
    assert f"invalid {option}" in p.stderr
    assert SECRET not in p.stdout + p.stderr


@pytest.mark.parametrize("create, message", [
    ("CREATE TABLE tasks (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), prompt text NOT NULL)",
     "public.tasks.id is uuid; llmlb needs bigint: ALTER TABLE public.tasks ALTER COLUMN id TYPE bigint"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, status text NOT NULL"
     " DEFAULT 'new')",
     "public.tasks.status defaults to 'new'::text; llmlb needs DEFAULT 'unsolved'"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text)",
     "public.tasks.prompt allows NULL; llmlb needs NOT NULL: ALTER TABLE public.tasks ALTER COLUMN"
     " prompt SET NOT NULL"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, answer jsonb)",
     "public.tasks.answer is jsonb; llmlb needs text: ALTER TABLE public.tasks ALTER COLUMN answer"
     " TYPE text"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, last_error varchar(50))",
     "public.tasks.last_error is character varying(50); llmlb needs text"),
    ("CREATE TABLE tasks (id bigint NOT NULL, prompt text NOT NULL)",
     "public.tasks.id is not unique"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, status text NOT NULL"
     " DEFAULT 'unsolved' CONSTRAINT my_status CHECK (status IN ('unsolved', 'done')))",
     "CHECK constraint my_status on public.tasks rejects status 'solved'"),
    ("CREATE TABLE tasks (id bigserial PRIMARY KEY, prompt text NOT NULL, attempts integer)",
     "public.tasks.attempts allows NULL"),
])
def test_migrate_refuses_a_tasks_table_it_cannot_work_with(db, create, message):
    db.sql(create)
    before = db.sql("SELECT column_name, data_type, is_nullable, column_default FROM"
                    " information_schema.columns WHERE table_name = 'tasks' ORDER BY 1")
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert message in p.stderr, p.stderr
    # Nothing was changed: no llmlb schema, no new column.
    assert db.one("SELECT to_regnamespace('llmlb') IS NULL") is True
    assert db.sql("SELECT column_name, data_type, is_nullable, column_default FROM"
                  " information_schema.columns WHERE table_name = 'tasks' ORDER BY 1") == before


def test_migrate_accepts_a_compatible_existing_tasks_table(db):
    db.sql("CREATE TABLE tasks (id serial PRIMARY KEY, prompt varchar NOT NULL,"
           " status text NOT NULL DEFAULT 'unsolved' CHECK (status <> 'archived'),"
           " answer text, priority smallint NOT NULL DEFAULT 0)")
    p = llmlb("migrate", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert llmlb("migrate", db_url=db.url).returncode == 0
