"""Load generator for the simulated backend, mainly to measure the instant mode's ceiling.

    python -m tests.sim_backend.loadgen --spawn                  # starts its own --instant backend
    python -m tests.sim_backend.loadgen --url http://127.0.0.1:PORT --connections 64 --duration 5

Contract: loopback targets only. Opens ``--connections`` keep-alive connections; each sends one
request at a time (rotating over 1024 distinct prompts across the models) until ``--duration``
seconds or ``--requests`` replies in total, whichever comes first. A reply is an error unless it
is a 200 (with ``--verify``: unless its answer equals answer_for). Prints one result line::

    loadgen: 123456 requests in 5.00 s = 24691 req/s, 0 errors, 64 connections, /single

With ``--spawn`` it also prints the backend's CPU use and ``ceiling ~ req/s / CPU share``: the
rate the backend would reach with a whole core to itself (the client shares the machine).
Exit status 1 when any reply was an error.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.sim_backend"

from .answers import answer_for  # noqa: E402
from .harness import running_backend  # noqa: E402


def build_requests(host: str, port: int, path: str, batch: int, models: list[str]):
    """[(request bytes, expected answers)] for 1024 distinct prompts."""
    out = []
    for i in range(1024):
        items = [(models[(i + j) % len(models)], f"loadgen prompt {i}/{j} \u00e9\u2603")
                 for j in range(max(batch, 1))]
        if batch:
            body = {"requests": [{"model": m, "prompt": p} for m, p in items]}
        else:
            body = {"model": items[0][0], "prompt": items[0][1]}
        raw = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode()
        out.append((head + raw, [answer_for(m, p) for m, p in items]))
    return out


class Stats:
    def __init__(self, limit: int, deadline: float):
        self.limit, self.deadline = limit, deadline
        self.sent = self.done = self.errors = 0


class Client(asyncio.Protocol):
    """One keep-alive connection sending request after request."""

    def __init__(self, reqs, stats: Stats, verify: bool, closed: asyncio.Future, offset: int):
        self.reqs, self.stats, self.verify, self.closed = reqs, stats, verify, closed
        self.i, self.buf, self.expected, self.transport = offset, b"", None, None

    def connection_made(self, transport):
        self.transport = transport

    def send_next(self):
        s = self.stats
        if s.sent >= s.limit or time.monotonic() >= s.deadline:
            self.transport.close()
            return
        raw, self.expected = self.reqs[self.i % len(self.reqs)]
        self.i += 1
        s.sent += 1
        self.transport.write(raw)

    def data_received(self, data):
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        k = head.find(b"content-length:")
        clen = int(head[k + 15:].split(b"\r\n", 1)[0]) if k >= 0 else 0
        if len(self.buf) < end + 4 + clen:
            return
        body, self.buf = self.buf[end + 4:end + 4 + clen], self.buf[end + 4 + clen:]
        ok = head.startswith(b"http/1.1 200")
        if ok and self.verify:
            obj = json.loads(body)
            got = [r.get("answer") for r in obj["results"]] if "results" in obj else [obj["answer"]]
            ok = got == self.expected
        self.stats.done += 1
        self.stats.errors += not ok
        self.send_next()

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(url: str, args) -> tuple[int, int, float]:
    """(replies, errors, seconds) of one load run against ``url``."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    path = args.path or ("/batch" if args.batch else "/single")
    reqs = build_requests(host, port, path, args.batch, args.models.split(","))
    loop = asyncio.get_running_loop()
    stats = Stats(args.requests, float("inf"))
    clients, closed = [], []
    for c in range(args.connections):
        fut = loop.create_future()
        _, proto = await loop.create_connection(
            lambda f=fut, c=c: Client(reqs, stats, args.verify, f, c * 17), host, port)
        clients.append(proto)
        closed.append(fut)
    start = time.monotonic()
    stats.deadline = start + args.duration
    for proto in clients:
        proto.send_next()
    await asyncio.gather(*closed)
    return stats.done, stats.errors + (stats.sent - stats.done), time.monotonic() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="loadgen", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="backend base URL (loopback); default: --spawn one")
    p.add_argument("--spawn", action="store_true", help="start an --instant backend to measure")
    p.add_argument("--backend-args", default="",
                   help='extra flags for the spawned backend, e.g. "--arrival-log /tmp/a.jsonl"')
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--requests", type=int, default=10_000_000, help="stop after this many replies")
    p.add_argument("--batch", type=int, default=0, help="items per /batch request; 0 = /single")
    p.add_argument("--path", help="request path (default /single or /batch)")
    p.add_argument("--models", default=",".join(f"m{i}" for i in range(10)))
    p.add_argument("--verify", action="store_true", help="check every answer (costs client CPU)")
    p.add_argument("--no-uvloop", action="store_true")
    args = p.parse_args(argv)
    if not args.url and not args.spawn:
        args.spawn = True
    run = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            pass

    def report(url: str, pid: int | None) -> int:
        host = urlsplit(url).hostname
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            sys.exit("loadgen: loopback targets only")
        cpu0 = cpu_seconds(pid) if pid else 0.0
        done, errors, secs = run(run_load(url, args))
        rate = done / secs
        what = f"/batch x{args.batch}" if args.batch else "/single"
        print(f"loadgen: {done} requests in {secs:.2f} s = {rate:.0f} req/s, {errors} errors, "
              f"{args.connections} connections, {what}", flush=True)
        if pid:
            share = (cpu_seconds(pid) - cpu0) / secs
            print(f"loadgen: backend CPU {share * 100:.0f}% of one core; "
                  f"ceiling ~ {rate / max(share, 1e-9):.0f} req/s with a core to itself", flush=True)
        return 1 if errors else 0

    if args.url:
        return report(args.url, None)
    with running_backend(instant=True, extra_args=shlex.split(args.backend_args)) as backend:
        return report(backend.url, backend.pid)


if __name__ == "__main__":
    sys.exit(main())
