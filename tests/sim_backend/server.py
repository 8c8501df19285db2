"""Entry point of the simulated Models Backend.

Usage (from the repository root)::

    python -m tests.sim_backend.server [flags]      # or: python tests/sim_backend/server.py [flags]

``--help`` lists the flags (config.build_parser). Once it accepts connections the process prints
exactly one line to stdout, ``sim_backend listening on http://HOST:PORT``, flushed; everything
else goes to stderr. SIGTERM / SIGINT stop it cleanly (exit status 0) after flushing the arrival
log. Default mode: FastAPI + uvicorn (app.py); ``--instant``: lean asyncio server (instant.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.sim_backend"

from .arrivals import ArrivalLog  # noqa: E402
from .config import build_parser, from_args  # noqa: E402
from .net import listen_socket, raise_nofile_limit, url_of  # noqa: E402


def _exit_cleanly(signum, frame):
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings, wire = from_args(args)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    raise_nofile_limit()
    sock = listen_socket(args.host, args.port, args.backlog)
    url = url_of(args.host, sock.getsockname()[1])
    log = ArrivalLog(args.arrival_log, args.arrival_memory)

    def ready() -> None:
        print(f"sim_backend listening on {url}", flush=True)

    if args.instant:
        from .instant import serve
    else:
        from .app import serve
    # uvicorn re-raises the signal it caught once it has shut down: make that a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    loop_factory = None
    if not args.no_uvloop:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(sock, settings, wire, log, args, ready))
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # everything is flushed and closed: skip the slow interpreter teardown
