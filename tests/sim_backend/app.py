"""FastAPI + uvicorn mode of the simulated backend (the default; realistic latencies and faults).

HTTP contract (paths and field names are the configurable ``Wire`` ones; defaults shown):
- ``POST /single`` ``{"model", "prompt"}`` -> 200 ``{"answer": answer_for(model, prompt),
  "usage": {"prompt_tokens": P, "completion_tokens": C, "total_tokens": P + C}}`` (usage_for).
- ``POST /batch`` ``{"requests": [{"model", "prompt"}, ...]}`` -> 200 ``{"results": [...]}`` in
  order, each ``{"answer": ..., "usage": ...}`` or ``{"error": ...}``, sent once every item is
  done (each item queues for its own model's slots; the wait is the max). Empty list -> 400.
- Unknown model -> 404 (whole batch); malformed body -> 400; errors are ``{"error": "..."}``.
- Provider quota exhausted -> 429 + Retry-After (batch: only when every item is over quota;
  otherwise those items get error results), checked before any fault: first the rpm bucket, then
  the tpm bucket (charged prompt + completion tokens).
- Capacity (config.Capacity): a call that passed the quotas and the 429 fault takes one of its
  model's ``slots`` (FIFO queue when all are busy; ``queue_limit`` waiting -> ``queue_full_status``
  at once) and holds it for its service time, also when its client has left, unless
  ``cancel_on_disconnect`` (then a queued call whose client left never takes a slot). Faults other
  than 429 apply after the service, as before (hang: without slots it hangs at once, as before).
- Faults (see faults.Simulator.roll): ``429`` -> 429 + Retry-After, at once; ``5xx`` -> 500/502/503
  after the latency; ``garbage`` -> 200 with an unusable body after the latency; ``drop`` -> TCP
  reset after the latency, no HTTP response; ``hang`` -> nothing for ``hang_seconds`` (or until
  the client leaves), then a reset. Batch, scope "item": each item rolls; 5xx/429/garbage give
  error or malformed items, the first drop/hang takes the whole request. Scope "request": one
  roll with the first item's model, applied to the whole request. ``reuse_reset`` (per
  connection): a request that is not the first on its kept-alive connection is, with that
  probability, read, logged and answered with a TCP reset at once (batch: the first item's model
  decides for the whole request); with 1, every connection serves one request and resets the next.
- ``GET /health``; ``GET|POST /admin/config``; ``GET /admin/arrivals?since=TS&limit=N``;
  ``GET /admin/load`` -> ``{"now", "models": {name: {"busy", "queued", "slots"}}}``.
At shutdown (SIGTERM/SIGINT) requests get ``graceful_timeout`` seconds, then their connections
are reset; the arrival log is flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import socket
import struct
import time
from dataclasses import asdict

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.utils import get_remote_addr

from .answers import answer_for, usage_dict, usage_for
from .arrivals import ArrivalLog
from .config import Wire
from .faults import Simulator

ARRIVAL = "sim.arrival"  # scope key: time.time() when the request's headers were parsed
DROP = "sim.drop"  # scope key: callable that resets the request's TCP connection
NTH = "sim.nth"  # scope key: 1-based number of the request on its TCP connection


def abort_connection(transport) -> None:
    """Close with a TCP RST (SO_LINGER 0): the client sees a reset, never an HTTP response."""
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def protocol_class(conns: dict):
    """uvicorn's HTTP protocol, also keeping ``conns``: peer address (scope["client"]) -> transport."""

    class SimHTTPProtocol(AutoHTTPProtocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._sim_key = get_remote_addr(transport)
            conns[self._sim_key] = transport

        def connection_lost(self, exc):
            if conns.get(self._sim_key) is self.transport:
                del conns[self._sim_key]
            super().connection_lost(exc)

    return SimHTTPProtocol


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Gone:
    """Watches a request for its client leaving, once asked (``task()``); ``close()`` stops it."""

    def __init__(self, receive):
        self.receive, self._task = receive, None

    def task(self) -> asyncio.Task:
        if self._task is None:
            self._task = asyncio.ensure_future(_until_disconnect(self.receive))
        return self._task

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


REFUSED = ("quota429", "tpm_429", "queue_full")  # outcomes of calls refused at arrival


class ConnectionControl:
    """Pure-ASGI wrapper: stamps the arrival time into the scope and offers ``scope[DROP]()``,
    after which nothing the app sends reaches the client. A request cancelled at shutdown is
    dropped too (instead of uvicorn's 500)."""

    def __init__(self, app, conns: dict):
        self.app, self.conns = app, conns
        self.nth: dict = {}  # peer address -> (id of its transport, requests seen on it)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        dropped = False

        def drop():
            nonlocal dropped
            dropped = True
            transport = self.conns.get(tuple(scope.get("client") or ()))
            if transport is None:  # fallback: uvicorn's cycle object owns the transport
                transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                abort_connection(transport)

        async def guarded_send(message):
            if not dropped:
                await send(message)

        key = tuple(scope.get("client") or ())
        tid = id(self.conns.get(key))
        seen_tid, n = self.nth.get(key, (None, 0))
        n = n + 1 if seen_tid == tid else 1
        self.nth[key] = (tid, n)
        scope[ARRIVAL], scope[DROP], scope[NTH] = time.time(), drop, n
        try:
            await self.app(scope, receive, guarded_send)
        except asyncio.CancelledError:
            drop()
        if dropped:  # let uvicorn see the disconnect, so it does not answer 500 itself
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_until_disconnect(receive), 2.0)


class Handlers:
    """The endpoints; ``sim`` decides, ``log`` records every request (per item for batches)."""

    def __init__(self, sim: Simulator, wire: Wire, log: ArrivalLog):
        self.sim, self.wire, self.log = sim, wire, log
        self.ids = itertools.count(1)
        self.hanging: set = set()  # drop callables of hanging requests (reset at shutdown)

    # -- responses -------------------------------------------------------------------------
    @staticmethod
    def json(obj, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(obj), status, headers, media_type="application/json")

    def error(self, status: int, message: str, retry_after: float | None = None) -> Response:
        headers = None if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
        return self.json({self.wire.error_field: message}, status, headers)

    def server_error(self) -> Response:
        status = self.sim.choice((500, 502, 503))
        if status == 502:
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502,
                            media_type="text/html")
        return self.error(status, f"simulated {status}")

    def garbage(self, good: dict, field: str) -> Response:
        """200 with an unusable body; ``good`` is the correct body, ``field`` its main field."""
        other = "output" if field != "output" else "text"
        kind = self.sim.choice(("html", "truncated", "missing", "number", "null", "array"))
        if kind == "html":
            return Response("<html><body>simulated garbage</body></html>", media_type="text/html")
        if kind == "truncated":
            return Response(json.dumps(good)[:-3], media_type="application/json")
        bad = {"missing": {other: good[field]}, "number": {field: 42}, "null": {field: None},
               "array": [good[field]]}[kind]
        return self.json(bad)

    def drop(self, request: Request) -> Response:
        request.scope[DROP]()
        return Response(status_code=204)

    async def hang(self, request: Request) -> Response:
        self.hanging.add(request.scope[DROP])
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_until_disconnect(request.receive),
                                       self.sim.settings.hang_seconds)
        finally:
            self.hanging.discard(request.scope[DROP])
        return self.drop(request)

    # -- parsing -----------------------------------------------------------------------------
    def item(self, obj) -> tuple[str, str]:
        w = self.wire
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        model, prompt = obj.get(w.model_field), obj.get(w.prompt_field)
        if not isinstance(model, str) or not isinstance(prompt, str):
            raise ValueError(f"{w.model_field!r} and {w.prompt_field!r} must be strings")
        return model, prompt

    def items(self, obj) -> list[tuple[str, str]]:
        reqs = obj.get(self.wire.requests_field) if isinstance(obj, dict) else None
        if not isinstance(reqs, list) or not reqs:
            raise ValueError(f"{self.wire.requests_field!r} must be a non-empty list")
        return [self.item(r) for r in reqs]

    # -- endpoints ---------------------------------------------------------------------------
    async def single(self, request: Request) -> Response:
        ts, req, sim, w = request.scope.get(ARRIVAL, time.time()), next(self.ids), self.sim, self.wire
        try:
            model, prompt = self.item(json.loads(await request.body()))
        except ValueError as exc:
            self.log.add(ts, "single", None, "400", 0.0, req)
            return self.error(400, str(exc))
        if not sim.known(model):
            self.log.add(ts, "single", model, "404", 0.0, req)
            return self.error(404, f"unknown model {model!r}")
        if sim.reuse_reset(model, request.scope.get(NTH, 1)):
            self.log.add(ts, "single", model, "reuse_reset", 0.0, req)
            return self.drop(request)
        st = sim.settings
        p, c = usage_for(model, prompt, st.output_tokens_of(model))
        info = self.info(model, p, c)
        wait = sim.admit(model)
        if wait is not None:
            self.log.add(ts, "single", model, "quota429", 0.0, req, **info)
            return self.error(429, f"quota exceeded for {model!r}", wait)
        wait = sim.admit_tokens(model, p + c)
        if wait is not None:
            self.log.add(ts, "single", model, "tpm_429", 0.0, req, **info)
            return self.error(429, f"tokens per minute quota exceeded for {model!r}", wait)
        outcome = sim.roll(model)
        if outcome == "429":
            self.log.add(ts, "single", model, "429", 0.0, req, **info)
            return self.error(429, "simulated rate limit", st.retry_after)
        if outcome == "hang" and st.capacity(model).slots is None:
            self.log.add(ts, "single", model, "hang", st.hang_seconds, req, **info)
            return await self.hang(request)
        latency = sim.latency(model)
        rec = self.log.add(ts, "single", model, outcome,
                           st.hang_seconds if outcome == "hang" else latency, req, pending=True,
                           **info)
        gone = Gone(request.receive)
        try:
            served = await self.serve(model, latency, rec, gone)
        finally:
            gone.close()
        if served == "queue_full":
            cap = sim.settings.capacity(model)
            return self.error(cap.queue_full_status, f"queue full for {model!r}",
                              sim.settings.retry_after)
        if served == "cancelled":  # the client has left: nobody to answer
            return self.drop(request)
        if outcome == "hang":
            return await self.hang(request)
        good = {w.answer_field: answer_for(model, prompt), w.usage_field: usage_dict(p, c)}
        if outcome == "drop":
            return self.drop(request)
        if outcome == "5xx":
            return self.server_error()
        if outcome == "garbage":
            return self.garbage(good, w.answer_field)
        return self.json(good)

    def info(self, model: str, p: int, c: int) -> dict:
        """Arrival-log fields known on arrival: queue state and the call's usage."""
        pool = self.sim.pool(model)
        return {"queued": pool.queued, "busy": pool.busy, "prompt_tokens": p, "completion_tokens": c}

    async def serve(self, model: str, latency: float, rec: list, gone: Gone) -> str:
        """Queue for a slot of ``model``, then hold it for ``latency`` (times the load factor).
        Returns "served", "queue_full" (refused at once, no slot taken) or "cancelled" (the
        client left while queued and the model has cancel_on_disconnect). Settles ``rec``."""
        sim, log = self.sim, self.log
        pool, cap = sim.pool(model), sim.settings.capacity(model)
        if cap.queue_limit is not None and pool.queued >= cap.queue_limit and pool.would_wait():
            log.update(rec, outcome="queue_full")
            log.done(rec)
            return "queue_full"
        t0 = time.monotonic()
        fut = pool.enter()  # from here on the place is ours: always give it back (finally)
        try:
            if fut is not None:
                if cap.cancel_on_disconnect:
                    await asyncio.wait((fut, gone.task()), return_when=asyncio.FIRST_COMPLETED)
                    if not fut.done():
                        log.update(rec, outcome="cancelled", queue_wait=time.monotonic() - t0)
                        return "cancelled"
                else:
                    await fut
            cap = sim.settings.capacity(model)  # as of the service start
            service = latency
            if cap.slots is not None and cap.load_latency:
                service *= 1 + cap.load_latency * (pool.busy - 1) / cap.slots
            log.update(rec, queue_wait=time.monotonic() - t0, service=service)
            await asyncio.sleep(service)
            return "served"
        finally:
            pool.exit(fut)
            log.update(rec, finished=time.time())
            log.done(rec)

    async def batch(self, request: Request) -> Response:
        ts, req, sim, w = request.scope.get(ARRIVAL, time.time()), next(self.ids), self.sim, self.wire
        try:
            items = self.items(json.loads(await request.body()))
        except ValueError as exc:
            self.log.add(ts, "batch", None, "400", 0.0, req)
            return self.error(400, str(exc))
        n = len(items)

        def log_all(outcomes, latency=0.0, item_lat=None):
            for i, (model, _) in enumerate(items):
                lat = item_lat[i] if item_lat else 0.0
                self.log.add(ts, "batch", model, outcomes[i], latency, req, i, n, lat)

        unknown = [m for m, _ in items if not sim.known(m)]
        if unknown:
            log_all(["404"] * n)
            return self.error(404, f"unknown model {unknown[0]!r}")
        if sim.reuse_reset(items[0][0], request.scope.get(NTH, 1)):
            log_all(["reuse_reset"] * n)
            return self.drop(request)
        st = sim.settings
        usage = [usage_for(m, p, st.output_tokens_of(m)) for m, p in items]
        infos = [self.info(m, p, c) for (m, _), (p, c) in zip(items, usage)]
        refused, waits = [], []  # per item: None or "quota429" / "tpm_429", and its wait
        for (m, _), (p, c) in zip(items, usage):
            wt = sim.admit(m)
            kind = "quota429" if wt is not None else None
            if wt is None:
                wt = sim.admit_tokens(m, p + c)
                kind = "tpm_429" if wt is not None else None
            refused.append(kind)
            waits.append(wt)
        if all(refused):
            for i, (model, _) in enumerate(items):
                self.log.add(ts, "batch", model, refused[i], 0.0, req, i, n, 0.0, **infos[i])
            tpm_only = all(k == "tpm_429" for k in refused)
            return self.error(429, "tokens per minute quota exceeded" if tpm_only
                              else "quota exceeded", min(waits))
        if st.batch_fault_scope == "request":
            whole = sim.roll(items[0][0])
            outcomes = [k or whole for k in refused]
        else:
            outcomes = [k or sim.roll(m) for (m, _), k in zip(items, refused)]
            whole = next((o for o in outcomes if o in ("drop", "hang")), "ok")
            if whole != "ok":
                outcomes = [o if o in REFUSED else whole for o in outcomes]
        hang = st.hang_seconds
        # Items served (a slot, the latency): as before, plus hang items of models with slots.
        serves = [o in ("ok", "5xx", "garbage", "drop")
                  or (o == "hang" and st.capacity(m).slots is not None)
                  for (m, _), o in zip(items, outcomes)]
        serve_lat = [sim.latency(m) if sv else 0.0 for (m, _), sv in zip(items, serves)]
        item_lat = [hang if o == "hang" else lat for o, lat in zip(outcomes, serve_lat)]
        latency = max(item_lat)
        recs = [self.log.add(ts, "batch", m, outcomes[i], latency, req, i, n, item_lat[i],
                             pending=serves[i], **infos[i]) for i, (m, _) in enumerate(items)]
        if whole == "429":
            return self.error(429, "simulated rate limit", st.retry_after)
        todo = [i for i in range(n) if serves[i]]
        gone = Gone(request.receive)
        try:
            done = await asyncio.gather(*(self.serve(items[i][0], serve_lat[i], recs[i], gone)
                                          for i in todo))
        finally:
            gone.close()
        if "cancelled" in done:
            return self.drop(request)
        for i, how in zip(todo, done):
            if how == "queue_full":
                outcomes[i] = "queue_full"
        if all(o in REFUSED for o in outcomes):  # nothing was served: refused at once
            full = next(i for i, o in enumerate(outcomes) if o == "queue_full")
            status = sim.settings.capacity(items[full][0]).queue_full_status
            return self.error(status, f"queue full for {items[full][0]!r}",
                              sim.settings.retry_after)
        if whole == "hang":
            return await self.hang(request)
        if whole == "drop":
            return self.drop(request)
        if whole == "5xx":
            return self.server_error()
        if whole == "garbage":  # scope "request": garble a correct body
            outcomes = ["ok" if o == "garbage" else o for o in outcomes]
        results = [self.result(m, p, o, u) for (m, p), o, u in zip(items, outcomes, usage)]
        if whole == "garbage":
            return self.garbage_batch(results)
        return self.json({w.results_field: results})

    def result(self, model: str, prompt: str, outcome: str, usage: tuple[int, int]) -> dict:
        af, ef = self.wire.answer_field, self.wire.error_field
        if outcome == "ok":
            return {af: answer_for(model, prompt), self.wire.usage_field: usage_dict(*usage)}
        if outcome == "garbage":
            return self.sim.choice(({}, {af: 42}, {af: None}, {af: [answer_for(model, prompt)]}))
        return {ef: {"5xx": "simulated 503 from the model provider",
                     "429": "simulated 429 rate limit",
                     "quota429": f"429 quota exceeded for {model!r}",
                     "tpm_429": f"429 tokens per minute quota exceeded for {model!r}",
                     "queue_full": f"queue full for {model!r}"}[outcome]}

    def garbage_batch(self, results: list) -> Response:
        rf = self.wire.results_field
        kind = self.sim.choice(("html", "truncated", "missing", "not_list", "short"))
        if kind in ("html", "truncated", "missing"):
            return self.garbage({rf: results}, rf)
        return self.json({rf: "simulated garbage" if kind == "not_list" else results[:-1]})


def build_app(sim: Simulator, wire: Wire, log: ArrivalLog, conns: dict):
    """The ASGI app: FastAPI routes wrapped in ConnectionControl."""
    h = Handlers(sim, wire, log)
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api.add_api_route(wire.single_path, h.single, methods=["POST"])
    api.add_api_route(wire.batch_path, h.batch, methods=["POST"])

    @api.get("/health")
    async def health():
        return {"status": "ok"}

    def snapshot():
        return {**sim.settings.snapshot(), "mode": "fastapi", "wire": asdict(wire)}

    @api.get("/admin/config")
    async def get_config():
        return snapshot()

    @api.post("/admin/config")
    async def post_config(request: Request):
        try:
            sim.update(json.loads(await request.body()))
        except ValueError as exc:
            return h.error(400, str(exc))
        return snapshot()

    @api.get("/admin/load")
    async def load():
        return {"now": time.time(), "models": sim.load()}

    @api.get("/admin/arrivals")
    async def arrivals(since: float = 0.0, limit: int | None = None):
        now = time.time()
        return h.json({"now": now, "arrivals": log.since(since, limit)})

    app = ConnectionControl(api, conns)
    app.handlers = h
    return app


class _Server(uvicorn.Server):
    """uvicorn.Server that resets hanging requests at once when shutting down (they would
    only delay it), and flushes the arrival log at the end of its shutdown."""

    def __init__(self, config, log: ArrivalLog, handlers: Handlers):
        super().__init__(config)
        self.arrival_log, self.handlers = log, handlers

    async def shutdown(self, sockets=None):
        for drop in list(self.handlers.hanging):
            drop()
        try:
            await super().shutdown(sockets=sockets)
        finally:
            self.arrival_log.close()


async def serve(sock, settings, wire: Wire, log: ArrivalLog, args, ready) -> None:
    """Serve on the listening ``sock`` until SIGTERM/SIGINT; calls ``ready()`` once accepting."""
    conns: dict = {}
    app = build_app(Simulator(settings), wire, log, conns)
    config = uvicorn.Config(
        app, http=protocol_class(conns), ws="none", lifespan="off", interface="asgi3",
        access_log=False, log_level="warning", proxy_headers=False, server_header=False,
        backlog=args.backlog, timeout_keep_alive=args.keep_alive_timeout,
        timeout_graceful_shutdown=args.graceful_timeout, limit_concurrency=None)
    server = _Server(config, log, app.handlers)

    async def announce():
        while not server.started:
            await asyncio.sleep(0.01)
        ready()

    tasks = [asyncio.create_task(announce()), asyncio.create_task(log.run_flusher())]
    try:
        await server.serve(sockets=[sock])
    finally:
        for t in tasks:
            t.cancel()
