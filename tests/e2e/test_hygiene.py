"""Issue 14: secrets never printed, hostile schemas refused, bounded cooldowns, stricter input."""
from __future__ import annotations

import json

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


class Scripted:
    """A loopback backend answering POSTs from a script: a list of (status, body, headers),
    one per request, the last repeated. `requests` records each request's headers."""

    def __init__(self, script):
        import http.server
        import threading
        outer = self
        self.script, self.requests = list(script), []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(dict(self.headers))
                i = min(len(outer.requests), len(outer.script)) - 1
                status, body, headers = outer.script[i]
                data = body.replace("{auth}", self.headers.get("Authorization", "")).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    made = []

    def make(*script):
        made.append(Scripted(script))
        return made[-1]

    yield make
    for s in made:
        s.close()


FAST = ["--backoff-base", "20ms", "--backoff-max", "100ms", "--until-empty"]
TOKEN = "sk-live-9f8e7d6c5b4a"


def test_a_401_echoing_the_token_is_stored_redacted(migrated, scripted):
    from .conftest import set_limits
    set_limits(migrated.url, "m0", 6000)
    backend = scripted((401, '{"detail": "invalid token", "authorization": "{auth}"}', {}))
    migrated.insert_tasks(["x"])
    url = backend.url.replace("http://", "http://alice:UrlPw99@")
    for fmt in ("text", "json"):
        migrated.sql("UPDATE tasks SET status = 'unsolved', attempts = 0, last_error = NULL")
        p = llmlb("work", "--backend-url", url, "--log-format", fmt, *FAST, db_url=migrated.url,
                  env={"LLMLB_BACKEND_TOKEN": TOKEN})
        assert p.returncode == 0, p.stderr
        assert backend.requests[-1]["Authorization"] == f"Bearer {TOKEN}"
        assert "alice:***@127.0.0.1" in p.stderr
        out = p.stdout + p.stderr
        assert TOKEN not in out and "UrlPw99" not in out
    # A 401 is the token's fault, not the task's: the model is suspended, the task released.
    status, error = migrated.sql("SELECT status, coalesce(last_error, '') FROM tasks")[0]
    assert status == "unsolved" and TOKEN not in error
    reason = migrated.one("SELECT reason FROM llmlb.model_health")
    assert "401" in reason and TOKEN not in reason and "sk-live" not in reason, reason
    st = llmlb("status", "--json", db_url=migrated.url)
    assert json.loads(st.stdout)["models"][0]["suspended"] is True
    assert TOKEN not in st.stdout + st.stderr


def test_408_409_425_are_retried_and_an_empty_answer_is_not_a_solution(migrated, scripted):
    from .conftest import set_limits
    set_limits(migrated.url, "m0", 6000)
    backend = scripted((408, "slow", {}), (409, "busy", {}), (425, "early", {}),
                       (200, '{"answer": ""}', {}), (200, '{"answer": " \\n "}', {}),
                       (200, '{"answer": "42"}', {}))
    migrated.insert_tasks(["q"])
    p = llmlb("work", "--backend-url", backend.url, "--max-attempts", "10", *FAST,
              db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert migrated.sql("SELECT status, answer, attempts FROM tasks") == [("solved", "42", 6)]


def test_accept_empty_answers_stores_them(migrated, scripted):
    from .conftest import set_limits
    set_limits(migrated.url, "m0", 6000)
    backend = scripted((200, '{"answer": ""}', {}))
    migrated.insert_tasks(["q"])
    p = llmlb("work", "--backend-url", backend.url, "--accept-empty-answers", *FAST,
              db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert migrated.sql("SELECT status, answer FROM tasks") == [("solved", "")]


def test_a_huge_retry_after_is_cut_to_max_retry_after(migrated, scripted):
    from .conftest import set_limits
    set_limits(migrated.url, "m0", 6000)
    backend = scripted((429, "slow down", {"Retry-After": "999999999"}))
    migrated.insert_tasks(["q"])
    p = llmlb("work", "--backend-url", backend.url, "--max-retry-after", "2s", "--max-runtime",
              "1s", db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    left = migrated.one("SELECT extract(epoch FROM max(cooldown_until) - now()) FROM llmlb.quota")
    assert left is not None and float(left) <= 2.0, left
    assert migrated.one("SELECT extract(epoch FROM retry_at - now()) FROM tasks") <= 2.0
    # The database's own safety net, whatever a worker passes.
    migrated.sql("SELECT llmlb.note_rate_limited('m0', 999999999, 1)")
    left = migrated.one("SELECT extract(epoch FROM max(cooldown_until) - now()) FROM llmlb.quota")
    assert float(left) <= 3600.5, left


def test_a_null_prompt_fails_its_task_not_the_worker(migrated, scripted):
    from .conftest import set_limits
    set_limits(migrated.url, "m0", 6000)
    backend = scripted((200, '{"answer": "fine"}', {}))
    migrated.sql("ALTER TABLE tasks ALTER COLUMN prompt DROP NOT NULL")
    migrated.sql("INSERT INTO tasks (prompt) VALUES (NULL), ('ok')")
    p = llmlb("work", "--backend-url", backend.url, *FAST, db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    rows = migrated.sql("SELECT prompt, status, last_error FROM tasks ORDER BY id")
    assert rows[0][1] == "failed" and "prompt is empty" in rows[0][2]
    assert rows[1][:2] == ("ok", "solved")


@pytest.mark.parametrize("args, message", [
    (["--backend-url", "http://"], "no host"),
    (["--backend-url", "http://127.0.0.1:99999"], "port"),
    (["--backend-url", "http://127.0.0.1/a b"], "spaces"),
    (["--backend-url", "ftp://127.0.0.1"], "http:// or https://"),
    (["--backend-url", "http://alice:UrlPw99@:80"], "no host"),
    (["--backend-url", "http://127.0.0.1:9", "--max-inflight-total", "0x10"], "decimal"),
    (["--backend-url", "http://127.0.0.1:9", "--batch-size", "010"], None),
    (["--backend-url", "http://127.0.0.1:9", "--max-response-bytes", "-1"], "decimal"),
    (["--backend-url", "http://127.0.0.1:9", "--max-retry-after", "2h"], "--max-retry-after"),
    (["--backend-url", "http://127.0.0.1:9", "--models", "m\udcff"], "valid UTF-8"),
])
def test_work_rejects_bad_urls_numbers_and_model_names(migrated, args, message):
    migrated.sql("INSERT INTO tasks (prompt) VALUES ('x')")
    p = llmlb("work", *args, "--max-runtime", "1s", db_url=migrated.url)
    if message is None:  # "010" is ten, not eight
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("llmlb: error: ") and message in p.stderr, p.stderr
    assert "UrlPw99" not in p.stderr
    assert migrated.sql("SELECT status, lease_token FROM tasks") == [("unsolved", None)]
