"""Start a simulated backend process for a test (standard library only).

    from tests.sim_backend.harness import running_backend
    with running_backend(time_scale=0.01, fault_5xx=0.1, arrival_log=tmp_path / "a.jsonl") as b:
        status, headers, body = b.post_json("/single", {"model": "m0", "prompt": "hi"})

Contract of ``running_backend(**options)``:
- Each option becomes a flag of server.py: ``time_scale=0.01`` -> ``--time-scale 0.01``,
  ``fault_5xx=1`` -> ``--fault-5xx 1``, True -> bare flag, False/None -> left out, dict/list ->
  inline JSON (e.g. ``models={"models": ["a", "b"]}``), Path -> str. Harness-only options:
  ``extra_args`` (list of raw args), ``startup_timeout`` (seconds, default 30), ``env``.
- The server runs with ``sys.executable -m tests.sim_backend.server`` from the repository root,
  on ``--port 0`` unless ``port`` is given; the context waits for its readiness line and yields a
  ``Backend``; on exit it sends SIGTERM to that PID and waits (SIGKILL after 10 s).
``Backend``: ``url``, ``port``, ``pid``, ``proc``, ``arrival_log`` (Path or None), ``request()``,
``post_json()``, ``config()``, ``set_config(dict) -> dict``, ``arrivals(since=0.0) -> list[dict]``
(admin endpoint while running, else the ``--arrival-log`` file), ``stop()``, ``stderr_text()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "sim_backend listening on "


def to_args(options: dict) -> list[str]:
    """CLI arguments for server.py from keyword options (see the module docstring)."""
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (dict, list)):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args


class Backend:
    """A running server process; see the module docstring."""

    def __init__(self, proc: subprocess.Popen, url: str, arrival_log, stderr_file):
        self.proc, self.pid, self.url = proc, proc.pid, url
        self.port = int(url.rsplit(":", 1)[1])
        self.arrival_log = Path(arrival_log) if arrival_log else None
        self._stderr = stderr_file

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 30,
                headers: dict | None = None) -> tuple[int, Message, bytes]:
        """(status, headers, body) of one HTTP request; HTTP errors are returned, not raised.
        ``headers`` is case-insensitive (``headers["Retry-After"]``, None when absent: .get)."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def post_json(self, path: str, obj, timeout: float = 30) -> tuple[int, Message, object]:
        """POST ``obj`` as JSON; returns (status, headers, parsed JSON or None if not JSON)."""
        status, headers, raw = self.request("POST", path, json.dumps(obj).encode(), timeout)
        try:
            return status, headers, json.loads(raw)
        except ValueError:
            return status, headers, None

    def config(self) -> dict:
        return json.loads(self.request("GET", "/admin/config")[2])

    def set_config(self, changes: dict) -> dict:
        """POST /admin/config; returns the new settings, raises ValueError when refused."""
        status, _, body = self.request("POST", "/admin/config", json.dumps(changes).encode())
        if status != 200:
            raise ValueError(f"set_config refused ({status}): {body.decode(errors='replace')}")
        return json.loads(body)

    def arrivals(self, since: float = 0.0) -> list[dict]:
        if self.proc.poll() is None:
            body = self.request("GET", f"/admin/arrivals?since={since!r}")[2]
            return json.loads(body)["arrivals"]
        if self.arrival_log is None:
            raise RuntimeError("backend stopped and has no --arrival-log file")
        with open(self.arrival_log, encoding="utf-8") as f:
            return [r for r in map(json.loads, f) if r["ts"] >= since]

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM this process (by PID) and wait; SIGKILL if it outlives ``timeout``."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def stderr_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


@contextlib.contextmanager
def running_backend(*, extra_args: list[str] = (), startup_timeout: float = 30.0, env=None,
                    **options):
    options.setdefault("port", 0)
    cmd = [sys.executable, "-m", "tests.sim_backend.server", *to_args(options), *extra_args]
    stderr_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr_file,
                            stdin=subprocess.DEVNULL, env=env, text=True)
    lines: queue.Queue = queue.Queue()

    def drain():  # keeps reading stdout so the server can never block on it
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    backend = None
    try:
        try:
            line = lines.get(timeout=startup_timeout)
        except queue.Empty:
            line = None
        if not line or not line.startswith(READY_PREFIX):
            raise RuntimeError(f"sim_backend did not start: {line!r}; cmd={cmd}\n"
                               + Backend(proc, "http://x:0", None, stderr_file).stderr_text())
        backend = Backend(proc, line[len(READY_PREFIX):].strip(), options.get("arrival_log"),
                          stderr_file)
        yield backend
    finally:
        if backend is not None:
            backend.stop()
        elif proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        stderr_file.close()
