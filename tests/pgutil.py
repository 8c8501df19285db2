"""Small PostgreSQL helpers shared by the black-box tests, the benchmarks and the demo."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


PGBOUNCER = Path("/usr/sbin/pgbouncer")


def as_user(user: str, cmd: list[str]) -> list[str]:
    """``cmd`` run as OS user ``user`` (needs root) through setpriv, which execs it: the PID
    Popen returns is the command's own."""
    return ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *cmd]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_pgbouncer(server_url: str):
    """Starts PgBouncer (Debian's package, session pooling) in front of ``server_url``'s server
    and yields (host, port, socket_dir): TCP on 127.0.0.1 (md5, the password of ``server_url``'s
    role) and a Unix socket in socket_dir (peer authentication). Every client is logged in to the
    server as ``server_url``'s role, over TLS when the server offers it.
    When we are root it runs as OS user postgres (PgBouncer refuses root). Stopped by PID, and
    its directory removed, on exit. Raises FileNotFoundError without PgBouncer."""
    if not PGBOUNCER.exists():
        raise FileNotFoundError(f"{PGBOUNCER} (apt-get install pgbouncer)")
    u = urlsplit(server_url)
    user, password = unquote(u.username or ""), unquote(u.password or "")
    d = Path(tempfile.mkdtemp(prefix="llmlb-pgbouncer-"))
    port = free_port()
    # PgBouncer admits only users listed here, also for peer authentication: list OS user
    # postgres too, with a random password nobody knows.
    (d / "users.txt").write_text(f'"{user}" "{password}"\n"postgres" "{secrets.token_hex(16)}"\n')
    (d / "hba.conf").write_text("local all all peer\nhost all all 127.0.0.1/32 md5\n")
    (d / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={u.hostname or '127.0.0.1'} port={u.port or 5432} user={user} "
        f"password={password}\n\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir = {d}\n"
        f"auth_type = hba\nauth_hba_file = {d}/hba.conf\nauth_file = {d}/users.txt\n"
        "pool_mode = session\nserver_tls_sslmode = prefer\n"
        f"logfile = {d}/pgbouncer.log\nmax_client_conn = 200\ndefault_pool_size = 40\n")
    cmd = [str(PGBOUNCER), str(d / "pgbouncer.ini")]
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
        for f in d.iterdir():
            shutil.chown(f, "postgres")
        cmd = as_user("postgres", cmd)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log = (d / "pgbouncer.log")
                    raise RuntimeError("PgBouncer did not start: "
                                       + (log.read_text() if log.exists() else "no log"))
                time.sleep(0.05)
        yield "127.0.0.1", port, str(d)
    finally:
        if proc.poll() is None:
            proc.terminate()  # setpriv execs PgBouncer: this is its PID
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(d, ignore_errors=True)
