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
