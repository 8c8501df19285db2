"""Tests of service capacity (slots, FIFO queue, queue_limit, load_latency, abandoned calls) and of
token usage / the TPM quota of the simulated backend. Real server processes on 127.0.0.1.

Run: ``.venv/bin/python -m pytest -q tests/sim_backend``. Latencies: time_scale 0.01, so a model
with ``median`` 20 and ``sigma`` 0 serves a call in 0.2 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .answers import answer_for, usage_for
from .capacity import Pool
from .config import Settings, builtin_models
from .faults import TokenBucket
from .harness import running_backend
from .test_sim_backend import post_bytes, raw_exchange


@pytest.fixture(scope="module")
def b():
    with running_backend(time_scale=0.01, min_latency=0, seed=3) as backend:
        yield backend


_names = iter(range(10**6))


def model(b, **spec) -> str:
    """Adds a fresh model (fixed latency: median 20 = 0.2 s unless given) and returns its name."""
    name = f"c{next(_names)}"
    b.set_config({"models": {name: {"median": 20, "sigma": 0, **spec}}})
    return name


def call(b, m, prompt="p", timeout=30):
    return b.post_json("/single", {"model": m, "prompt": prompt}, timeout=timeout)


def concurrently(fns, stagger=0.0):
    """Runs the callables in threads (started ``stagger`` s apart); returns (results, seconds)."""
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(fns)) as pool:
        futs = []
        for fn in fns:
            futs.append(pool.submit(fn))
            time.sleep(stagger)
        results = [f.result() for f in futs]
    return results, time.monotonic() - t0


def records(b, m, since):
    return sorted((r for r in b.arrivals(since) if r["model"] == m), key=lambda r: r["ts"])


def abandon(b, m, prompt, after):
    """Sends a /single call on a raw socket and leaves (closes) after ``after`` seconds."""
    with pytest.raises(TimeoutError):
        raw_exchange(b.url, post_bytes("/single", {"model": m, "prompt": prompt}), timeout=after)


# --- units (no process) ------------------------------------------------------------------------

def test_usage_formula():
    digest = hashlib.sha256("m1\x00héllo".encode()).digest()
    assert usage_for("m1", "héllo") == (2, 16)  # 6 bytes -> ceil(6/4) = 2; default 16..16
    assert usage_for("m1", "héllo", (10, 20)) == (2, 10 + int.from_bytes(digest[:4], "big") % 11)
    assert usage_for("m1", "") == (1, 16) and usage_for("m1", "x" * 9) == (3, 16)
    assert usage_for("m1", "write [out=300] words [out=5]") == (8, 300)  # first marker wins
    assert usage_for("m1", "[out=0]", (5, 9)) == (2, 0)
    assert usage_for("m1", "[out=x]")[1] == 16 and usage_for("m1", "\ud800")[0] == 1
    cs = {usage_for("m", f"p{i}", (3, 7))[1] for i in range(200)}
    assert cs == {3, 4, 5, 6, 7}


def test_tpm_bucket_arithmetic():
    bucket = TokenBucket(rpm=600, burst=40, now=0.0)  # 10 tokens/s, 40 at most, starts full
    assert bucket.charge(0.0, 20) == 0 and bucket.charge(0.0, 20) == 0
    assert bucket.charge(0.0, 20) == pytest.approx(2.0)  # empty: 20 tokens take 2 s
    assert bucket.charge(1.0, 20) == pytest.approx(1.0)  # 10 there, 10 missing
    assert bucket.charge(2.0, 20) == 0 and bucket.tokens == pytest.approx(0)
    # A cost above the bucket size waits for a full bucket, then drives it negative.
    assert bucket.charge(3.0, 100) == pytest.approx(3.0)
    assert bucket.charge(6.0, 100) == 0 and bucket.tokens == pytest.approx(-60)
    assert bucket.charge(6.0, 1) == pytest.approx(6.1)
    assert bucket.charge(100.0, 1) == 0 and bucket.tokens == pytest.approx(39)  # capped at 40


def test_pool_is_fifo_and_follows_slot_changes():
    slots = [1]

    async def main():
        pool = Pool(lambda: slots[0])
        assert pool.enter() is None and pool.busy == 1
        a, b, c = pool.enter(), pool.enter(), pool.enter()
        assert pool.queued == 3 and not a.done()
        b.cancel()  # a waiter that gave up (task cancelled) ...
        pool.exit(b)  # ... leaves the queue
        assert pool.queued == 2 and pool.busy == 1
        pool.exit(None)  # the slot goes to the oldest waiter, not to a newcomer
        assert a.done() and not c.done() and pool.busy == 1 and pool.would_wait()
        slots[0] = 3
        d = pool.enter()  # c still waits: a newcomer queues behind it until wake()
        assert d is not None
        pool.wake()
        assert c.done() and d.done() and pool.busy == 3 and pool.queued == 0
        for f in (a, c, d):
            pool.exit(f)
        assert pool.busy == 0
        slots[0] = None  # unlimited
        assert [pool.enter() for _ in range(5)] == [None] * 5

    asyncio.run(main())


def test_settings_validation():
    s = Settings(models=builtin_models())
    for bad in ({"slots": 0}, {"slots": 1.5}, {"queue_limit": -1}, {"queue_full_status": 500},
                {"load_latency": -1}, {"cancel_on_disconnect": 1}, {"output_tokens": [5, 2]},
                {"output_tokens": [1]}, {"quota_tpm_burst": -1},
                {"models": {"m0": {"slots": -1}}}, {"models": {"m0": {"queue_full_status": 200}}},
                {"models": {"m0": {"output_tokens": [1, "2"]}}}):
        with pytest.raises(ValueError):
            s.updated(bad)
    s2 = s.updated({"slots": 4, "models": {"m0": {"slots": 0, "queue_limit": 2}, "m1": {"slots": 1}}})
    assert s2.capacity("m0").slots is None and s2.capacity("m0").queue_limit == 2
    assert s2.capacity("m1").slots == 1 and s2.capacity("m2").slots == 4
    assert s.capacity("m2") == (None, None, 503, 0.0, False)  # default: unlimited, as before
    s3 = s.updated({"quota_tpm": 600, "models": {"m1": {"tpm": 60, "tpm_burst": 5}}})
    assert s3.tpm_quota("m0") == (600, 100) and s3.tpm_quota("m1") == (60, 5)
    assert s.tpm_quota("m0") is None and s.output_tokens_of("m0") == (16, 16)


# --- capacity ------------------------------------------------------------------------------------

def test_default_has_no_capacity_limit(b):
    cfg = b.config()
    assert (cfg["slots"], cfg["queue_limit"], cfg["queue_full_status"], cfg["load_latency"],
            cfg["cancel_on_disconnect"], cfg["quota_tpm"], cfg["output_tokens"]) == (
        None, None, 503, 0.0, False, None, [16, 16])
    m = model(b)
    t0 = time.time()
    results, took = concurrently([lambda i=i: call(b, m, f"u{i}") for i in range(6)])
    assert [r[0] for r in results] == [200] * 6 and took < 0.45
    recs = records(b, m, t0)
    assert len(recs) == 6 and all(r["queue_wait"] < 0.05 for r in recs)
    assert sorted(r["busy"] for r in recs) == [0, 1, 2, 3, 4, 5]  # no limit: all in service
    load = json.loads(b.request("GET", "/admin/load")[2])["models"]
    assert load[m] == {"busy": 0, "queued": 0, "slots": None}


def test_slots_serialize_calls(b):
    m = model(b, slots=2)
    t0 = time.time()
    results, took = concurrently([lambda i=i: call(b, m, f"s{i}") for i in range(6)])
    assert [r[0] for r in results] == [200] * 6
    assert 0.58 <= took < 1.0  # three rounds of 0.2 s
    recs = records(b, m, t0)
    waits = sorted(r["queue_wait"] for r in recs)
    assert waits[:2] == pytest.approx([0, 0], abs=0.05)
    assert waits[2:4] == pytest.approx([0.2, 0.2], abs=0.07)
    assert waits[4:] == pytest.approx([0.4, 0.4], abs=0.1)
    assert all(r["service"] == pytest.approx(0.2) and r["outcome"] == "ok" for r in recs)
    assert max(r["busy"] for r in recs) == 2 and max(r["queued"] for r in recs) >= 3
    assert all(r["finished"] >= r["ts"] + r["queue_wait"] + 0.19 for r in recs)


def test_queue_is_fifo(b):
    m = model(b, slots=1, median=8)  # 80 ms each
    t0 = time.time()
    done = []

    def one(i):
        status = call(b, m, f"f{i}")[0]
        done.append(i)
        return status

    results, _ = concurrently([lambda i=i: one(i) for i in range(6)], stagger=0.02)
    assert results == [200] * 6 and done == list(range(6))
    recs = records(b, m, t0)
    finished = [r["finished"] for r in recs]
    assert finished == sorted(finished) and [r["queued"] for r in recs][:3] == [0, 0, 1]


def test_queue_limit_refuses_at_once(b):
    m = model(b, slots=1, queue_limit=1, median=50)
    t0 = time.time()

    def refused():
        time.sleep(0.15)  # the first call is in service, the second waits
        t = time.monotonic()
        status, headers, body = call(b, m, "third")
        return status, headers.get("Retry-After"), body, time.monotonic() - t

    results, _ = concurrently([lambda: call(b, m, "first"), lambda: (time.sleep(0.05), call(b, m, "second"))[1],
                               refused])
    assert results[0][0] == 200 and results[1][0] == 200
    status, retry_after, body, took = results[2]
    assert status == 503 and retry_after == "1" and "queue full" in body["error"] and took < 0.15
    outcomes = [r["outcome"] for r in records(b, m, t0)]
    assert outcomes == ["ok", "ok", "queue_full"]
    full = records(b, m, t0)[2]
    assert (full["queued"], full["busy"]) == (1, 1) and "queue_wait" not in full
    # 429 instead of 503, changed at runtime; queue_limit 0: nobody may wait
    b.set_config({"models": {m: {"queue_full_status": 429, "queue_limit": 0}}})
    results, _ = concurrently([lambda: call(b, m, "a"), lambda: (time.sleep(0.1), call(b, m, "b"))[1]])
    assert [r[0] for r in results] == [200, 429] and results[1][1]["Retry-After"] == "1"


def abandon_a_and_b_then_call_c(b, m):
    """A is served and leaves at 0.1 s; B queues and leaves at 0.1 s; C comes at 0.2 s.
    Returns C's status and how long C took."""
    def late_call():
        time.sleep(0.2)
        t = time.monotonic()
        status = call(b, m, "C")[0]
        return status, time.monotonic() - t

    results, _ = concurrently([lambda: abandon(b, m, "A", 0.1),
                               lambda: (time.sleep(0.05), abandon(b, m, "B", 0.1)), late_call])
    return results[2]


def test_abandoned_calls_keep_their_slot(b):
    m = model(b, slots=1, median=40)  # 0.4 s each
    t0 = time.time()
    status, took = abandon_a_and_b_then_call_c(b, m)
    # C waits for A (until 0.4) and for B, abandoned but still served (until 0.8): 0.6 + 0.4 s.
    assert status == 200 and took >= 0.9
    recs = records(b, m, t0)
    assert [r["outcome"] for r in recs] == ["ok"] * 3
    assert recs[1]["queue_wait"] == pytest.approx(0.35, abs=0.08)
    assert recs[1]["service"] == pytest.approx(0.4)
    load = json.loads(b.request("GET", "/admin/load")[2])["models"][m]
    assert load == {"busy": 0, "queued": 0, "slots": 1}


def test_cancel_on_disconnect_drops_queued_calls(b):
    m = model(b, slots=1, median=40, cancel_on_disconnect=True)
    t0 = time.time()
    status, took = abandon_a_and_b_then_call_c(b, m)
    # A, in service, still holds its slot until 0.4 s; B left the queue: C starts at 0.4 s.
    assert status == 200 and 0.5 <= took < 0.8
    recs = records(b, m, t0)
    assert [r["outcome"] for r in recs] == ["ok", "cancelled", "ok"]
    assert "service" not in recs[1] and recs[1]["queue_wait"] < 0.2


def test_raising_slots_at_runtime_lets_waiters_in(b):
    m = model(b, slots=1, median=30)
    t0 = time.time()

    def widen():
        time.sleep(0.1)
        b.set_config({"models": {m: {"slots": 4}}})

    results, took = concurrently([lambda i=i: call(b, m, f"r{i}") for i in range(4)] + [widen])
    assert [r[0] for r in results[:4]] == [200] * 4
    assert took < 0.75  # 1 slot: 1.2 s; widened at 0.1 s: the three waiters end at about 0.4 s
    assert sorted(r["queue_wait"] for r in records(b, m, t0))[1:] == pytest.approx([0.1] * 3, abs=0.08)
    assert b.config()["models"][m]["slots"] == 4


def test_load_latency_grows_with_busy_slots(b):
    m = model(b, slots=2, load_latency=1.0)
    t0 = time.time()
    results, took = concurrently([lambda: call(b, m, "x"), lambda: (time.sleep(0.05), call(b, m, "y"))[1]])
    assert [r[0] for r in results] == [200, 200]
    recs = records(b, m, t0)
    # the first starts alone (x1), the second with 2 busy of 2 slots: x (1 + 1 * 1 / 2)
    assert [r["service"] for r in recs] == pytest.approx([0.2, 0.3])
    assert took >= 0.33


def test_batch_items_queue_on_their_models(b):
    m = model(b, slots=1, median=10)
    free = model(b, median=10)
    t0 = time.time()
    items = [{"model": x, "prompt": f"b{i}"} for i, x in enumerate([m, m, free, m])]
    t = time.monotonic()
    status, _, body = b.post_json("/batch", {"requests": items})
    took = time.monotonic() - t
    assert status == 200 and took >= 0.29
    assert [r["answer"] for r in body["results"]] == [answer_for(i["model"], i["prompt"]) for i in items]
    recs = [r for r in b.arrivals(t0) if r["endpoint"] == "batch"]
    assert [round(r["queue_wait"], 1) for r in recs] == [0.0, 0.1, 0.0, 0.2]


def test_faults_release_the_slot(b):
    m = model(b, slots=1, median=10, faults={"drop": 1.0})
    try:
        assert raw_exchange(b.url, post_bytes("/single", {"model": m, "prompt": "d"}), 5) == b""
    except ConnectionResetError:
        pass
    b.set_config({"models": {m: {"faults": {"drop": None, "hang": 1.0}}}, "hang_seconds": 0.3})
    try:
        t = time.monotonic()
        raw_exchange(b.url, post_bytes("/single", {"model": m, "prompt": "h"}), 5)
    except ConnectionResetError:
        pass
    assert time.monotonic() - t >= 0.35  # 0.1 s of service, then 0.3 s of hang
    b.set_config({"models": {m: {"faults": None}}, "hang_seconds": 3600})
    assert json.loads(b.request("GET", "/admin/load")[2])["models"][m]["busy"] == 0
    assert call(b, m, "after")[0] == 200


def test_runtime_capacity_keys_are_validated(b):
    m = model(b, slots=1)
    before = b.config()
    for bad in ({"slots": 0}, {"queue_full_status": 502}, {"models": {m: {"slots": "2"}}},
                {"models": {m: {"cancel_on_disconnect": "yes"}}}, {"quota_tpm": "x"},
                {"models": {m: {"slots": 3, "tpm": []}}}):
        status, _, body = b.request("POST", "/admin/config", json.dumps(bad).encode())
        assert status == 400 and "error" in json.loads(body)
    assert b.config() == before


def test_arrival_file_has_queue_fields_and_every_record_at_shutdown(tmp_path):
    log = tmp_path / "arr.jsonl"
    models = {"models": {"q": {"median": 20, "sigma": 0, "slots": 1}}}
    with running_backend(time_scale=0.01, models=models, arrival_log=log) as back:
        concurrently([lambda: call(back, "q", "1"), lambda: call(back, "q", "2")])
        # a call still queued (and one in service) when the server stops
        concurrently([lambda: abandon(back, "q", "3", 0.1), lambda: abandon(back, "q", "4", 0.1)])
        assert back.stop() == 0
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(recs) == 4 and sorted(round(r["queue_wait"], 1) for r in recs[:2]) == [0.0, 0.2]
    assert all({"service", "finished", "queued", "busy", "prompt_tokens"} <= set(r) for r in recs[:2])


# --- usage and TPM ------------------------------------------------------------------------------

def test_usage_in_answers(b):
    m = model(b, median=1, output_tokens=[5, 50])
    for prompt in ("hello", "é" * 101, "long answer please [out=4000]"):
        status, _, body = call(b, m, prompt)
        p, c = usage_for(m, prompt, (5, 50))
        assert status == 200 and body == {"answer": answer_for(m, prompt), "usage": {
            "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}
    assert body["usage"]["completion_tokens"] == 4000
    items = [{"model": m, "prompt": "a"}, {"model": "m0", "prompt": "bb [out=3]"}]
    status, _, body = b.post_json("/batch", {"requests": items})
    assert [r["usage"]["completion_tokens"] for r in body["results"]] == [
        usage_for(m, "a", (5, 50))[1], 3]
    b.set_config({"output_tokens": [1, 2]})  # global default, for models without their own
    try:
        assert call(b, "m0", "z")[2]["usage"]["completion_tokens"] == usage_for("m0", "z", (1, 2))[1]
        assert call(b, m, "z")[2]["usage"]["completion_tokens"] == usage_for(m, "z", (5, 50))[1]
    finally:
        b.set_config({"output_tokens": [16, 16]})


def test_tpm_quota(b):
    m = model(b, median=1, tpm=600, tpm_burst=40)  # 10 tokens/s, bucket of 40
    t0 = time.time()
    cost20 = "[out=18]"  # 8 bytes: 2 prompt tokens + 18 = 20
    assert usage_for(m, cost20) == (2, 18)
    assert [call(b, m, cost20)[0] for _ in range(2)] == [200, 200]
    status, headers, body = call(b, m, cost20)
    assert status == 429 and headers["Retry-After"] == "2"
    assert body == {"error": f"tokens per minute quota exceeded for {m!r}"}
    recs = records(b, m, t0)
    assert [r["outcome"] for r in recs] == ["ok", "ok", "tpm_429"]
    assert (recs[2]["prompt_tokens"], recs[2]["completion_tokens"]) == (2, 18)
    # batch: every item refused -> 429; some refused -> error items
    status, headers, body = b.post_json("/batch", {"requests": [{"model": m, "prompt": cost20}]})
    assert status == 429 and "tokens per minute" in body["error"] and headers["Retry-After"]
    status, _, body = b.post_json("/batch", {"requests": [{"model": m, "prompt": cost20},
                                                          {"model": "m0", "prompt": "x"}]})
    assert status == 200 and "tokens per minute" in body["results"][0]["error"]
    assert "answer" in body["results"][1]
    # a call above the bucket size: refused until the bucket is full, then admitted
    big = "[out=100]"  # 3 + 100 = 103 tokens > 40
    status, headers, _ = call(b, m, big)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 4
    b.set_config({"models": {m: {"tpm_burst": 40}}})  # changing quotas refills the buckets
    assert call(b, m, big)[0] == 200
    status, headers, _ = call(b, m, cost20)  # bucket at 40 - 103 = -63: 83 tokens missing
    assert status == 429 and headers["Retry-After"] == "9"
    outcomes = [r["outcome"] for r in records(b, m, t0)]
    assert outcomes[-3:] == ["tpm_429", "ok", "tpm_429"]


def test_rpm_is_checked_before_tpm(b):
    m = model(b, median=1, rpm=60, burst=1, tpm=60, tpm_burst=1000)
    t0 = time.time()
    assert call(b, m, "a")[0] == 200
    status, _, body = call(b, m, "b")
    assert status == 429 and "tokens" not in body["error"]
    assert [r["outcome"] for r in records(b, m, t0)] == ["ok", "quota429"]


def test_global_tpm_flags():
    with running_backend(time_scale=0.01, min_latency=0, quota_tpm=60, quota_tpm_burst=30,
                         output_tokens=[16, 16], models=["a"]) as back:
        assert back.config()["quota_tpm"] == 60 and back.config()["output_tokens"] == [16, 16]
        assert call(back, "a", "x")[0] == 200  # 1 + 16 = 17 of 30
        status, headers, _ = call(back, "a", "y")
        assert status == 429 and int(headers["Retry-After"]) == math.ceil((17 - 13) / 1)
