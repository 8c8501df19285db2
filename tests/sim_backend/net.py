"""Small socket helpers shared by both server modes.

Contracts:
- ``raise_nofile_limit()`` raises RLIMIT_NOFILE's soft limit to the hard limit (best effort) and
  returns the soft limit in force, so thousands of connections can stay open.
- ``listen_socket(host, port, backlog)`` returns a bound, listening, non-blocking TCP socket
  (port 0 = a free port; read it back with ``sock.getsockname()[1]``).
- ``url_of(host, port)`` is the base URL printed in the readiness line.
"""

from __future__ import annotations

import resource
import socket


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    except (ValueError, OSError):
        return soft


def listen_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
