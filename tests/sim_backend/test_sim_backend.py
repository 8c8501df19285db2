"""Tests of the simulated Models Backend: real server processes on 127.0.0.1.

Run: ``cd /work/main && .venv/bin/python -m pytest -q tests/sim_backend``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import resource
import socket
import subprocess
import sys
import time

import pytest

from .answers import answer_for, usage_for
from .config import FAULT_KINDS, Settings, builtin_models, load_models
from .faults import Simulator, TokenBucket
from .harness import REPO_ROOT, running_backend

NO_FAULTS = {k: 0.0 for k in FAULT_KINDS}
# Models added at runtime to the shared backend (time_scale 0.01: fast = 10 ms, slow = 500 ms).
TEST_MODELS = {"fast": {"median": 1, "sigma": 0}, "slow": {"median": 50, "sigma": 0}}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    log = tmp_path_factory.mktemp("shared") / "arrivals.jsonl"
    with running_backend(time_scale=0.01, seed=7, arrival_log=log) as b:
        b.set_config({"models": TEST_MODELS})
        yield b


@pytest.fixture
def sim(backend):
    """The shared backend, with faults and scope reset after the test."""
    yield backend
    backend.set_config({"faults": NO_FAULTS, "batch_fault_scope": "item", "retry_after": 1,
                        "hang_seconds": 3600, "models": {"m0": {"faults": None}}})


def single(model, prompt):
    return {"model": model, "prompt": prompt}


def answered(model, prompt, answer_field="answer", usage_field="usage"):
    """The body of a successful answer (default output_tokens 16..16)."""
    p, c = usage_for(model, prompt)
    return {answer_field: answer_for(model, prompt),
            usage_field: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}


def raw_exchange(url: str, request: bytes, timeout: float) -> bytes:
    """Send raw bytes, return everything received until close (ConnectionResetError passes)."""
    host, port = url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def post_bytes(path: str, obj) -> bytes:
    body = json.dumps(obj).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# --- units (no process) ------------------------------------------------------------------------

def test_answer_formula():
    import hashlib
    expected = "m1:" + hashlib.sha256("m1\x00héllo 🚀".encode()).hexdigest()[:24]
    assert answer_for("m1", "héllo 🚀") == expected
    assert answer_for("m1", "a") != answer_for("m2", "a")
    assert answer_for("m1", "\ud800").startswith("m1:")  # lone surrogate: no crash


def test_models_config_forms(tmp_path):
    f = tmp_path / "models.json"
    f.write_text(json.dumps({"default": {"median": 2, "rpm": 30}, "models": ["a", "b"]}))
    models = load_models(str(f))
    assert set(models) == {"a", "b"} and models["a"].median == 2 and models["b"].rpm == 30
    models = load_models('{"models": {"x": {"sigma": 0, "faults": {"5xx": 0.5}}}}')
    assert models["x"].sigma == 0 and models["x"].faults == {"5xx": 0.5}
    assert list(load_models('["p", "q"]')) == ["p", "q"]
    with pytest.raises(ValueError):
        load_models('{"models": {"x": {"bogus": 1}}}')
    with pytest.raises(ValueError):
        Settings(models=builtin_models()).updated({"faults": {"5xx": 2}})


def test_seeded_latency_and_faults_are_reproducible():
    s = Settings(models=builtin_models(), seed=42).updated({"faults": {"5xx": 0.3}})
    a, b = Simulator(s), Simulator(s)
    seq = [(a.latency("m3"), a.roll("m3")) for _ in range(50)]
    assert seq == [(b.latency("m3"), b.roll("m3")) for _ in range(50)]
    assert all(1.0 <= lat <= 120.0 for lat, _ in seq) and {"ok", "5xx"} == {o for _, o in seq}


def test_token_bucket():
    bucket = TokenBucket(rpm=60, burst=2, now=0.0)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(0.5) == pytest.approx(0.5) and bucket.take(1.0) == 0


# --- FastAPI mode --------------------------------------------------------------------------------

def test_single_and_batch_happy_path(sim):
    status, _, body = sim.post_json("/single", single("m0", "hello"))
    assert (status, body) == (200, answered("m0", "hello"))
    items = [single(f"m{i % 3}", f"prompt {i}") for i in range(7)]
    status, _, body = sim.post_json("/batch", {"requests": items})
    assert status == 200
    assert body == {"results": [answered(r["model"], r["prompt"]) for r in items]}
    assert sim.request("GET", "/health")[0] == 200


def test_batch_waits_for_the_slowest_item(sim):
    t0 = time.monotonic()
    assert sim.post_json("/single", single("fast", "x"))[0] == 200
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    status, _, body = sim.post_json("/batch", {"requests": [single("fast", "a"), single("slow", "b"),
                                                            single("fast", "c")]})
    took = time.monotonic() - t0
    assert status == 200 and [r["answer"] for r in body["results"]] == [
        answer_for("fast", "a"), answer_for("slow", "b"), answer_for("fast", "c")]
    assert took >= 0.5 and fast < 0.4


def test_unknown_model_is_404(sim):
    assert sim.post_json("/single", single("nope", "x"))[0] == 404
    assert sim.post_json("/batch", {"requests": [single("m0", "x"), single("nope", "y")]})[0] == 404


@pytest.mark.parametrize("path,body", [
    ("/single", b"not json"), ("/single", b'{"model": "m0"}'), ("/single", b'{"model": 1, "prompt": "x"}'),
    ("/single", b"[1]"), ("/batch", b'{"requests": {}}'), ("/batch", b'{"requests": []}'),
    ("/batch", b'{"requests": [{"model": "m0"}]}'), ("/single", b"\xff\xfe"),
])
def test_malformed_body_is_400(sim, path, body):
    assert sim.request("POST", path, body)[0] in (400, 422)


def test_fault_5xx(sim):
    sim.set_config({"faults": {"5xx": 1.0}})
    statuses = {sim.post_json("/single", single("m0", f"x{i}"))[0] for i in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) >= 2
    status, _, body = sim.post_json("/batch", {"requests": [single("m0", "a"), single("m1", "b")]})
    assert status == 200 and all(set(r) == {"error"} for r in body["results"])
    sim.set_config({"batch_fault_scope": "request"})
    assert sim.post_json("/batch", {"requests": [single("m0", "a")]})[0] in (500, 502, 503)


def test_fault_429_has_retry_after(sim):
    sim.set_config({"faults": {"429": 1.0}, "retry_after": 7})
    status, headers, _ = sim.post_json("/single", single("m0", "x"))
    assert status == 429 and headers["Retry-After"] == "7"
    sim.set_config({"batch_fault_scope": "request"})
    status, headers, _ = sim.post_json("/batch", {"requests": [single("m0", "x")]})
    assert status == 429 and headers["Retry-After"] == "7"


def test_fault_garbage(sim):
    sim.set_config({"faults": {"garbage": 1.0}})
    kinds = set()
    for i in range(30):
        status, _, raw = sim.request("POST", "/single", json.dumps(single("m0", f"g{i}")).encode())
        assert status == 200
        try:
            obj = json.loads(raw)
        except ValueError:
            kinds.add("not json")
            continue
        assert not (isinstance(obj, dict) and isinstance(obj.get("answer"), str))
        kinds.add(type(obj.get("answer")).__name__ if isinstance(obj, dict) else "array")
    assert len(kinds) >= 3
    status, _, body = sim.post_json("/batch", {"requests": [single("m0", f"b{i}") for i in range(5)]})
    assert status == 200 and all(not isinstance(r.get("answer"), str) for r in body["results"])


def test_fault_drop_resets_connection(sim):
    sim.set_config({"faults": {"drop": 1.0}})
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        conn.request("POST", "/single", json.dumps(single("m0", "x")),
                     {"Content-Type": "application/json"})
        conn.getresponse()
    conn.close()
    for path, obj in [("/single", single("m0", "y")), ("/batch", {"requests": [single("m0", "z")]})]:
        try:
            got = raw_exchange(sim.url, post_bytes(path, obj), timeout=5)
        except ConnectionResetError:
            got = b""
        assert got == b""  # no HTTP response at all, in particular no 500


def test_fault_reuse_reset_answers_the_first_request_and_resets_the_second(sim):
    sim.set_config({"faults": {"reuse_reset": 1.0}})
    t0 = time.time()
    for round_ in range(2):  # each new connection: one answer, then a reset
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        conn.request("POST", "/single", json.dumps(single("fast", f"a{round_}")),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["answer"] == answer_for("fast", f"a{round_}")
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            conn.request("POST", "/batch", json.dumps({"requests": [single("fast", "b")]}),
                         {"Content-Type": "application/json"})
            conn.getresponse()
        conn.close()
    # A request alone on its connection is never reset.
    # Read until the server closes: its keep-alive timeout is 5 s, so wait longer than that.
    got = raw_exchange(sim.url, post_bytes("/single", single("fast", "c")), timeout=15)
    assert got.startswith(b"HTTP/1.1 200")
    recs = [r for r in sim.arrivals(since=t0) if r["model"] == "fast"]
    assert [r["outcome"] for r in recs] == ["ok", "reuse_reset", "ok", "reuse_reset", "ok"]


def test_fault_hang_outlasts_client_timeout(sim):
    sim.set_config({"faults": {"hang": 1.0}})
    t0 = time.time()
    with pytest.raises(TimeoutError):
        raw_exchange(sim.url, post_bytes("/single", single("m0", "hang")), timeout=0.7)
    recs = [r for r in sim.arrivals(t0) if r["model"] == "m0"]
    assert recs[-1]["outcome"] == "hang" and recs[-1]["latency"] == 3600
    sim.set_config({"hang_seconds": 0.2})  # a short hang ends in a reset, not an answer
    try:
        assert raw_exchange(sim.url, post_bytes("/single", single("m0", "h2")), timeout=5) == b""
    except ConnectionResetError:
        pass


def test_per_model_faults_and_runtime_changes(sim):
    cfg = sim.set_config({"models": {"m0": {"faults": {"5xx": 1.0}}}})
    assert cfg["models"]["m0"]["faults"]["5xx"] == 1.0 and cfg["faults"]["5xx"] == 0.0
    assert sim.post_json("/single", single("m0", "x"))[0] >= 500
    assert sim.post_json("/single", single("m1", "x"))[0] == 200
    sim.set_config({"models": {"m0": {"faults": {"5xx": None}}}})
    assert sim.post_json("/single", single("m0", "x"))[0] == 200
    assert sim.config()["models"]["m0"]["faults"] == {}
    with pytest.raises(ValueError):
        sim.set_config({"faults": {"teapot": 1}})


def test_provider_quota(sim):
    sim.set_config({"models": {"q": {"rpm": 60, "burst": 2, "median": 1, "sigma": 0}}})
    t0 = time.time()
    assert [sim.post_json("/single", single("q", f"{i}"))[0] for i in range(2)] == [200, 200]
    status, headers, _ = sim.post_json("/single", single("q", "2"))
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert sim.post_json("/batch", {"requests": [single("q", "a")]})[0] == 429
    status, _, body = sim.post_json("/batch", {"requests": [single("q", "a"), single("m1", "b")]})
    assert status == 200 and "error" in body["results"][0] and "answer" in body["results"][1]
    outcomes = [r["outcome"] for r in sim.arrivals(t0) if r["model"] == "q"]
    assert outcomes == ["ok", "ok", "quota429", "quota429", "quota429"]


def test_arrivals_are_stamped_before_the_wait(sim):
    t0 = time.time()
    sim.post_json("/batch", {"requests": [single("slow", "s"), single("fast", "f")]})
    t1 = time.time()
    recs = [r for r in sim.arrivals(t0) if r["endpoint"] == "batch"]
    assert [(r["model"], r["item"], r["n"]) for r in recs] == [("slow", 0, 2), ("fast", 1, 2)]
    for r in recs:
        assert t0 <= r["ts"] <= t1 - 0.45 and r["outcome"] == "ok"
        assert r["latency"] == pytest.approx(0.5) and r["req"] == recs[0]["req"]
    assert recs[1]["item_latency"] == pytest.approx(0.01)


def test_big_unicode_prompt_round_trips(sim):
    weird = 'emoji 🚀🧪 quotes "\' backslash \\ ctrl \x00\x01\x1f\x7f tab\t nl\n é漢字 '
    prompt = weird * (2_100_000 // len(weird.encode()))
    assert len(prompt.encode()) > 2_000_000
    for ensure_ascii in (False, True):
        body = json.dumps(single("m2", prompt), ensure_ascii=ensure_ascii).encode()
        status, _, raw = sim.request("POST", "/single", body)
        assert status == 200 and json.loads(raw)["answer"] == answer_for("m2", prompt)


def test_2500_concurrent_connections(sim):
    n = 2500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))

    async def one(i, all_open):
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        opened.append(1)
        if len(opened) == n:
            all_open.set()
        await all_open.wait()  # send only once every connection is open
        writer.write(post_bytes("/single", single("slow", f"c{i}")))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = json.loads(await reader.readexactly(length))
        writer.close()
        return body["answer"] == answer_for("slow", f"c{i}")

    async def main():
        all_open = asyncio.Event()
        return await asyncio.wait_for(asyncio.gather(*(one(i, all_open) for i in range(n))), 60)

    opened = []
    assert all(asyncio.run(main()))


# --- separate processes ----------------------------------------------------------------------

def test_arrival_log_flushed_on_sigterm(tmp_path):
    log = tmp_path / "arrivals.jsonl"
    with running_backend(time_scale=0.01, arrival_log=log, models=["a", "b"]) as b:
        t0 = time.time()
        b.post_json("/single", single("a", "1"))
        b.post_json("/batch", {"requests": [single("a", "2"), single("b", "3"), single("b", "4")]})
        b.post_json("/single", single("zzz", "5"))
        b.request("POST", "/single", b"{")
        t1 = time.time()
        assert b.stop() == 0  # right away: the periodic flush may not have run yet
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["endpoint"], r["model"], r["outcome"]) for r in recs] == [
        ("single", "a", "ok"), ("batch", "a", "ok"), ("batch", "b", "ok"), ("batch", "b", "ok"),
        ("single", "zzz", "404"), ("single", None, "400")]
    assert all(t0 <= r["ts"] <= t1 for r in recs)
    assert b.arrivals() == recs  # the harness reads the file once the process is gone


def test_arrival_log_flushed_periodically(tmp_path):
    log = tmp_path / "arrivals.jsonl"
    with running_backend(instant=True, arrival_log=log) as b:
        b.post_json("/single", single("m1", "x"))
        time.sleep(0.8)
        assert json.loads(log.read_text())["model"] == "m1"


@pytest.mark.parametrize("instant", [False, True])
def test_configurable_paths_and_fields(instant):
    opts = dict(single_path="/v1/one", batch_path="/v1/many", model_field="m", prompt_field="p",
                answer_field="text", requests_field="items", results_field="outs",
                error_field="err", usage_field="use", time_scale=0.01, quota_rpm=60, quota_burst=1)
    with running_backend(instant=instant, **opts) as b:
        status, _, body = b.post_json("/v1/one", {"m": "m3", "p": "hi"})
        assert (status, body) == (200, answered("m3", "hi", "text", "use"))
        status, _, body = b.post_json("/v1/many", {"items": [{"m": "m4", "p": "a"}]})
        assert (status, body) == (200, {"outs": [answered("m4", "a", "text", "use")]})
        status, _, body = b.post_json("/v1/one", {"m": "nope", "p": "hi"})
        assert status == 404 and "err" in body
        assert b.post_json("/single", {"model": "m3", "prompt": "hi"})[0] in (404, 405)
        if not instant:  # --quota-rpm 60 --quota-burst 1: the second m3 request is refused
            status, headers, _ = b.post_json("/v1/one", {"m": "m3", "p": "again"})
            assert status == 429 and "Retry-After" in headers


def test_instant_mode(tmp_path):
    log = tmp_path / "instant.jsonl"
    with running_backend(instant=True, arrival_log=log, fault_5xx=1.0) as b:
        t0 = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
        for i in range(3):  # keep-alive: one connection, several requests
            conn.request("POST", "/single", json.dumps(single("m5", f"k{i}")))
            resp = conn.getresponse()
            assert (resp.status, json.loads(resp.read())) == (200, answered("m5", f"k{i}"))
        conn.request("POST", "/batch", json.dumps({"requests": [single("m1", "a"), single("m2", "b")]}))
        resp = conn.getresponse()
        assert json.loads(resp.read()) == {"results": [answered("m1", "a"), answered("m2", "b")]}
        conn.close()
        assert b.post_json("/single", single("x", "y"))[0] == 404
        assert b.request("POST", "/batch", b"{}")[0] == 400
        assert b.request("GET", "/health")[0] == 200
        assert b.config()["mode"] == "instant"
        # Expect: 100-continue, then two pipelined requests on one connection
        body = json.dumps(single("m0", "e")).encode()
        req = (f"POST /single HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
            s.sendall(req)
            assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
            s.sendall(body + post_bytes("/single", single("m0", "p1"))
                      + post_bytes("/single", single("m0", "p2"))[:-3])
            time.sleep(0.1)
            s.sendall(post_bytes("/single", single("m0", "p2"))[-3:])
            got = b""
            while got.count(b"answer") < 3:
                got += s.recv(65536)
        assert [answer_for("m0", p).encode() in got for p in ("e", "p1", "p2")] == [True] * 3
        recs = b.arrivals(t0)
        assert len(recs) == 10 and recs[4]["n"] == 2 and recs[-3]["outcome"] == "ok"
        assert [r["outcome"] for r in recs[5:7]] == ["404", "400"]
        big = "🚀\\\"\x01" * 300_000
        assert b.post_json("/single", single("m9", big))[2] == answered("m9", big)
    lines = log.read_text().splitlines()
    assert len(lines) == 11 and json.loads(lines[0])["model"] == "m5"


def test_script_entry_point_and_loadgen():
    cmd = [sys.executable, "tests/sim_backend/server.py", "--instant", "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("sim_backend listening on http://127.0.0.1:")
        url = line.split()[-1]
        out = subprocess.run([sys.executable, "-m", "tests.sim_backend.loadgen", "--url", url,
                              "--duration", "0.5", "--connections", "8", "--verify"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and " 0 errors" in out.stdout, out.stdout + out.stderr
        assert math.isfinite(float(out.stdout.split(" = ")[1].split()[0]))
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
