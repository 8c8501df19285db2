"""Instant mode (``--instant``): a lean asyncio HTTP/1.1 server for control-plane benchmarks.

Contract: same paths, JSON fields, answers (answer_for) with their usage (usage_for, per-model
``output_tokens``), 404 / 400 rules and arrival records as the FastAPI mode, but replies at once:
no latency, no faults, no provider quota (rpm or tpm), no service slots (outcomes are only ok /
404 / 400; latency 0; records carry no queue, usage or finished fields). POST /admin/config -> 400 (nothing to configure).
HTTP subset: Content-Length bodies (Transfer-Encoding -> 501 and close), keep-alive by default
(HTTP/1.0 without keep-alive, or "Connection: close" -> close after the reply),
"Expect: 100-continue" honoured, pipelined requests answered in order.
Also GET /health, GET /admin/config, GET /admin/arrivals?since=TS&limit=N.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from dataclasses import asdict
from urllib.parse import parse_qs

from .answers import answer_digest, completion_tokens, prompt_tokens
from .arrivals import ArrivalLog
from .config import Settings, Wire

MAX_HEAD = 64 * 1024
MAX_BODY = 512 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
           431: "Request Header Fields Too Large", 501: "Not Implemented"}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEADS: dict[bytes, tuple] = {}  # request head -> parse_head() result (clients repeat heads)


class BadRequest(Exception):
    def __init__(self, status: int):
        self.status = status


def response(status: int, body: bytes, keep: bool) -> bytes:
    conn = b"" if keep else b"Connection: close\r\n"
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status, REASONS.get(status, "Error").encode(), len(body), conn, body)


def _header(low: bytes, name: bytes) -> bytes | None:
    """Value of header ``name`` (lower case, with "\r\n" before and ":" after) in ``low``."""
    i = low.find(name)
    if i < 0:
        return None
    j = low.find(b"\r\n", i + 2)
    return low[i + len(name): j if j >= 0 else len(low)].strip()


def parse_head(head: bytes) -> tuple[bytes, bytes, int, bool, bool]:
    """(method, target, content_length, keep_alive, expect_continue) of a request head."""
    eol = head.find(b"\r\n")
    eol = len(head) if eol < 0 else eol
    parts = head[:eol].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400)
    method, target, version = parts
    low = head[eol:].lower()
    clen = _header(low, b"\r\ncontent-length:")
    if clen is not None and not clen.isdigit():
        raise BadRequest(400)
    clen = int(clen) if clen else 0
    if clen > MAX_BODY:
        raise BadRequest(413)
    if b"\r\ntransfer-encoding:" in low:
        raise BadRequest(501)
    keep = version == b"HTTP/1.1"
    conn = _header(low, b"\r\nconnection:")
    if conn is not None:
        keep = b"close" not in conn and (keep or b"keep-alive" in conn)
    expect = _header(low, b"\r\nexpect:") == b"100-continue"
    return method, target, clen, keep, expect


class Instant:
    """Request handling shared by all connections: ``handle() -> (status, body)``."""

    def __init__(self, settings: Settings, wire: Wire, log: ArrivalLog):
        self.settings, self.wire, self.log = settings, wire, log
        self.models = frozenset(settings.models)
        self.ids = itertools.count(1)
        self.decode = json.JSONDecoder().decode
        # body of a /single answer = prefix[model] + digest + '"}'
        key = json.dumps(wire.answer_field)
        self.prefix = {m: ("{" + key + ": " + json.dumps(m + ":")[:-1]).encode() for m in self.models}
        self.usage_key = json.dumps(wire.usage_field)
        self.out_tokens = {m: settings.output_tokens_of(m) for m in self.models}

    def usage(self, model: str, prompt: str, digest: str) -> str:
        """``"usage": {...}`` (JSON text) of an answer whose answer_digest is ``digest``."""
        p = prompt_tokens(prompt)
        c = completion_tokens(model, prompt, self.out_tokens[model], digest)
        return (f'{self.usage_key}: {{"prompt_tokens": {p}, "completion_tokens": {c}, '
                f'"total_tokens": {p + c}}}')

    def err(self, status: int, message: str) -> tuple[int, bytes]:
        return status, json.dumps({self.wire.error_field: message}).encode()

    def item(self, obj) -> tuple[str, str]:
        if not isinstance(obj, dict):
            raise ValueError
        model, prompt = obj.get(self.wire.model_field), obj.get(self.wire.prompt_field)
        if type(model) is not str or type(prompt) is not str:
            raise ValueError
        return model, prompt

    def handle(self, method: bytes, target: bytes, body: bytes, ts: float) -> tuple[int, bytes]:
        path, _, query = target.decode("latin-1").partition("?")
        if method == b"POST" and path == self.wire.single_path:
            return self.single(body, ts)
        if method == b"POST" and path == self.wire.batch_path:
            return self.batch(body, ts)
        if method == b"GET" and path == "/health":
            return 200, b'{"status": "ok"}'
        if method == b"GET" and path == "/admin/config":
            snap = {**self.settings.snapshot(), "mode": "instant", "wire": asdict(self.wire)}
            return 200, json.dumps(snap).encode()
        if method == b"GET" and path == "/admin/arrivals":
            q = parse_qs(query)
            since = float(q.get("since", ["0"])[0])
            limit = int(q["limit"][0]) if "limit" in q else None
            now = time.time()
            return 200, json.dumps({"now": now, "arrivals": self.log.since(since, limit)}).encode()
        if path == "/admin/config":
            return self.err(400, "instant mode has no runtime configuration")
        return self.err(404, f"no route {method.decode('latin-1')} {path}")

    def single(self, body: bytes, ts: float) -> tuple[int, bytes]:
        req = next(self.ids)
        try:
            model, prompt = self.item(self.decode(body.decode()))
        except ValueError:
            self.log.add(ts, "single", None, "400", 0.0, req)
            return self.err(400, "malformed request")
        if model not in self.models:
            self.log.add(ts, "single", model, "404", 0.0, req)
            return self.err(404, f"unknown model {model!r}")
        self.log.add(ts, "single", model, "ok", 0.0, req)
        digest = answer_digest(model, prompt)
        return 200, (self.prefix[model] + digest.encode() + b'", '
                     + self.usage(model, prompt, digest).encode() + b"}")

    def batch(self, body: bytes, ts: float) -> tuple[int, bytes]:
        req, w = next(self.ids), self.wire
        try:
            obj = self.decode(body.decode())
            reqs = obj.get(w.requests_field) if isinstance(obj, dict) else None
            if not isinstance(reqs, list) or not reqs:
                raise ValueError
            items = [self.item(r) for r in reqs]
        except ValueError:
            self.log.add(ts, "batch", None, "400", 0.0, req)
            return self.err(400, "malformed request")
        n = len(items)
        unknown = [m for m, _ in items if m not in self.models]
        outcome = "404" if unknown else "ok"
        for i, (model, _) in enumerate(items):
            self.log.add(ts, "batch", model, outcome, 0.0, req, i, n, 0.0)
        if unknown:
            return self.err(404, f"unknown model {unknown[0]!r}")
        af, out = json.dumps(w.answer_field), []
        for m, p in items:
            digest = answer_digest(m, p)
            out.append(f"{{{af}: {json.dumps(m + ':' + digest)}, {self.usage(m, p, digest)}}}")
        return 200, (f"{{{json.dumps(w.results_field)}: [" + ", ".join(out) + "]}").encode()


class Connection(asyncio.Protocol):
    """One client connection: answers each complete request, in order."""

    def __init__(self, app: Instant, conns: set):
        self.app, self.conns = app, conns
        self.pending = b""  # start of a request head not complete yet
        self.head = None  # parsed head of a request whose body is still arriving
        self.chunks: list[bytes] = []  # that body so far
        self.have = 0  # its length so far
        self.ts = 0.0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.conns.add(transport)

    def connection_lost(self, exc):
        self.conns.discard(self.transport)
        self.transport = None

    def fail(self, status: int) -> None:
        self.transport.write(response(status, b'{"error": "bad request"}', False))
        self.transport.close()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.head is not None:  # collecting a body
            self.chunks.append(data)
            self.have += len(data)
            if self.have < self.head[2]:
                return
            data, self.chunks, self.have = b"".join(self.chunks), [], 0
            if not self.answer(data):
                return
            data = data[self.head_len:]
        elif self.pending:
            data, self.pending = self.pending + data, b""
        while data and self.transport is not None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HEAD:
                    return self.fail(431)
                self.pending = data
                return
            self.ts = time.time()
            raw = data[:end]
            head = _HEADS.get(raw)
            if head is None:
                try:
                    head = parse_head(raw)
                except BadRequest as exc:
                    return self.fail(exc.status)
                if len(_HEADS) >= 4096:
                    _HEADS.clear()
                _HEADS[raw] = head
            data = data[end + 4:]
            if len(data) < head[2]:  # wait for the rest of the body
                self.head, self.chunks, self.have = head, [data], len(data)
                if head[4]:
                    self.transport.write(CONTINUE)
                return
            self.head = head
            if not self.answer(data):
                return
            data = data[head[2]:]

    def answer(self, data: bytes) -> bool:
        """Answer self.head whose body starts ``data``; False when the connection is closed."""
        method, target, clen, keep, _ = self.head
        self.head, self.head_len = None, clen
        try:
            status, payload = self.app.handle(method, target, data[:clen], self.ts)
        except ValueError:  # e.g. a bad query string on an admin URL
            status, payload = 400, b'{"error": "bad request"}'
        self.transport.write(response(status, payload, keep))
        if not keep:
            self.transport.close()
            self.transport = None
        return keep


async def serve(sock, settings: Settings, wire: Wire, log: ArrivalLog, args, ready) -> None:
    """Serve on the listening ``sock`` until SIGTERM/SIGINT, then flush the arrival log."""
    loop = asyncio.get_running_loop()
    app, conns = Instant(settings, wire, log), set()
    server = await loop.create_server(lambda: Connection(app, conns), sock=sock,
                                      backlog=args.backlog)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    flusher = asyncio.create_task(log.run_flusher())
    ready()
    try:
        await stop.wait()
    finally:
        server.close()
        flusher.cancel()
        for transport in list(conns):
            transport.close()
        log.close()
