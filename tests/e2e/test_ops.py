"""Black-box tests of the operator view: `llmlb status`, `llmlb report` and `llmlb prune`.

A real workload (migrate, limits for three models, 100 tasks including pinned ones and five
pinned to a model nobody configured, `llmlb work --until-empty` against the simulated backend
with 10% 5xx faults) feeds the status and report checks. The HTML report is loaded in headless
Chromium over the DevTools protocol on a pipe (no network port, no websocket): the page must
render with no console errors, exceptions or network requests, and every chart series must be
drawn.
"""
from __future__ import annotations

import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from .conftest import (ADMIN_URL, fresh_database, llmlb, set_limits, start_llmlb, stop,
                       wait_until)
from tests.sim_backend.harness import running_backend

MODELS = {"m0": (600, 10, 20), "m1": (300, 5, 10), "m2": (120, 3, 5)}
GHOST = "zz-unconfigured"
WORK_ARGS = ["--until-empty", "--no-live", "--backoff-base", "100ms", "--backoff-max", "500ms",
             "--max-runtime", "90s"]


def _enqueue(db):
    db.insert_tasks([f"free {i}" for i in range(70)])
    db.insert_tasks([f"for m1 {i}" for i in range(15)], model="m1")
    db.insert_tasks([f"for m2 {i}" for i in range(10)], model="m2")
    db.insert_tasks([f"for nobody {i}" for i in range(5)], model=GHOST)


def _status_json(db_url):
    p = llmlb("status", "--json", db_url=db_url)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """One finished workload, shared read-only by the status and report tests. Yields
    (db, status JSON taken while the worker ran, the worker's pid)."""
    log = tmp_path_factory.mktemp("workload") / "work.log"
    with fresh_database() as db, running_backend(time_scale=0.01, fault_5xx=0.1) as backend:
        llmlb("migrate", db_url=db.url, check=True)
        for name, (rpm, burst, inflight) in MODELS.items():
            set_limits(db.url, name, rpm, burst=burst, max_inflight=inflight,
                       preference=200 if name == "m2" else None)
        _enqueue(db)
        worker = start_llmlb("work", "--backend-url", backend.url, *WORK_ARGS, db_url=db.url,
                             log=log)
        try:
            live = {}

            def worker_visible():
                if db.one("SELECT count(*) FROM tasks WHERE status = 'solved'") < 10:
                    return False
                live["status"] = _status_json(db.url)
                return any(w["pid"] == worker.pid for w in live["status"]["workers"])

            assert wait_until(worker_visible, timeout=30, interval=0.2), log.read_text()
            assert worker.wait(timeout=120) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                stop(worker)
        yield db, live["status"], worker.pid


# --------------------------------------------------------------------------------------- status


def test_status_table_shows_backlog_models_and_eta(workload):
    db, _, _ = workload
    p = llmlb("status", db_url=db.url)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    solved = db.one("SELECT count(*) FROM tasks WHERE status = 'solved'")
    failed = db.one("SELECT count(*) FROM tasks WHERE status = 'failed'")
    assert f"solved {solved}  failed {failed}" in out
    assert "waiting 5 (unpinned 0, pinned 5)" in out
    assert f"5 task(s) will not drain: pinned to {GHOST} (not configured)" in out
    assert "ETA       none: every waiting task is pinned to a model that does not serve it" in out
    for name, (rpm, burst, inflight) in MODELS.items():
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert row.split()[:5] == [name, "serving", str(rpm), str(burst), str(inflight)]
    assert re.search(rf"^{GHOST}\s+not configured", out, re.M)
    assert "Workers   0 live" in out  # the worker has stopped


def test_status_json_matches_sql(workload):
    db, _, _ = workload
    recent_before = dict(db.sql("SELECT model, count(*) FROM llmlb.calls"
                                " WHERE sent_at > clock_timestamp() - interval '60 seconds'"
                                " GROUP BY model"))
    s = _status_json(db.url)
    recent_after = dict(db.sql("SELECT model, count(*) FROM llmlb.calls"
                               " WHERE sent_at > clock_timestamp() - interval '60 seconds'"
                               " GROUP BY model"))
    assert set(s) == {"now", "empty", "windows", "backlog", "models", "workers",
                      "stale_workers", "eta", "backend"}
    assert s["backend"]["unreachable"] is False
    assert s["empty"] is False
    b = s["backlog"]
    assert b["solved"] == db.one("SELECT count(*) FROM tasks WHERE status = 'solved'")
    assert b["failed"] == db.one("SELECT count(*) FROM tasks WHERE status = 'failed'")
    assert b["solved"] + b["failed"] == 95
    assert b["waiting"] == 5 and b["unpinned_waiting"] == 0 and b["in_flight"] == 0
    assert b["pinned_waiting"] == {GHOST: 5}

    names = [m["name"] for m in s["models"]]
    assert names == ["m0", "m1", "m2", GHOST]  # by preference, then unconfigured
    by_outcome = {}
    for model, outcome, n in db.sql(
            "SELECT model, outcome, count(*) FROM llmlb.calls"
            " WHERE sent_at > clock_timestamp() - interval '300 seconds' GROUP BY 1, 2"):
        by_outcome.setdefault(model, {})[outcome] = n
    total_calls = 0
    for m in s["models"][:3]:
        name = m["name"]
        rpm, burst, inflight = MODELS[name]
        assert (m["rpm"], m["burst"], m["max_inflight"], m["enabled"]) == (rpm, burst, inflight,
                                                                           True)
        sql = by_outcome.get(name, {})
        assert m["calls"]["ok"] == sql.get("ok", 0)
        assert m["calls"]["transient"] == sql.get("transient", 0)
        assert m["calls"]["permanent"] == sql.get("permanent", 0)
        assert m["calls"]["total"] == sum(sql.values())
        total_calls += m["calls"]["total"]
        assert recent_after.get(name, 0) <= m["sent_last_window"] <= recent_before.get(name, 0)
        assert m["in_flight"] == 0
        p50, p95, mean = db.sql(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), avg(latency_ms)"
            " FROM llmlb.calls WHERE model = %s AND outcome = 'ok'", (name,))[0]
        assert m["latency_ms"]["p50"] == pytest.approx(p50)
        assert m["latency_ms"]["p95"] == pytest.approx(p95)
        assert m["latency_ms"]["mean"] == pytest.approx(mean)
        assert m["success_rate"] == pytest.approx(m["calls"]["ok"] / m["calls"]["total"])
        assert m["per_minute"]["ok"] == pytest.approx(m["calls"]["ok"] / 5)
        assert m["rate_factor"] == 1 and m["cooldown_seconds"] is None
        assert 0 < m["capacity_per_second"] <= rpm / 60 + 1e-9
    assert total_calls == db.one("SELECT count(*) FROM llmlb.calls")
    ghost = s["models"][3]
    assert ghost["configured"] is False and ghost["rpm"] is None and ghost["waiting"] == 5
    assert s["eta"] == {"state": "no_capacity", "seconds": None, "resumes_in_seconds": None,
                        "stuck_tasks": 5,
                        "stuck_models": [GHOST]}
    assert s["workers"] == []


def test_status_json_while_working_shows_the_worker_and_an_eta(workload):
    _, live, pid = workload
    worker = next(w for w in live["workers"] if w["pid"] == pid)
    assert set(worker) == {"id", "host", "pid", "version", "in_flight", "solved", "failed",
                           "uptime_seconds", "heartbeat_age_seconds"}
    assert worker["heartbeat_age_seconds"] < 30
    eta = live["eta"]
    assert eta["stuck_tasks"] == 5 and eta["stuck_models"] == [GHOST]
    if live["backlog"]["waiting"] > 5:  # work that can drain is left: an estimate exists
        assert eta["state"] == "ok" and eta["seconds"] > 0


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """Parses the text exposition format strictly; returns {(name, labels-tuple): value}."""
    samples, typed, helped = {}, {}, set()
    for line in text.splitlines():
        assert line, "empty line in the exposition"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helped, f"second HELP for {name}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter"), line
            assert name not in typed, f"second TYPE for {name}"
            typed[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        assert name.startswith("llmlb_"), name
        assert name in typed and name in helped, f"{name} has no TYPE/HELP before it"
        assert list(typed)[-1] == name, f"{name} is not grouped under its TYPE line"
        labels = []
        pos = 0
        while labels_text and pos < len(labels_text):
            lm = LABEL.match(labels_text, pos)
            assert lm, f"bad labels in {line!r}"
            raw = lm.group(2)
            labels.append((lm.group(1), re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(
                x.group(1), x.group(1)), raw)))
            pos = lm.end()
        v = float(value)
        assert math.isfinite(v), line
        key = (name, tuple(labels))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = v
    return samples


def test_status_prometheus_parses_and_matches(workload):
    db, _, _ = workload
    p = llmlb("status", "--format", "prometheus", db_url=db.url)
    assert p.returncode == 0, p.stderr
    samples = parse_prometheus(p.stdout)
    assert samples[("llmlb_tasks_solved", ())] == db.one(
        "SELECT count(*) FROM tasks WHERE status = 'solved'")
    assert samples[("llmlb_tasks_waiting", ())] == 5
    assert samples[("llmlb_tasks_stuck", ())] == 5
    assert samples[("llmlb_model_waiting", (("model", GHOST),))] == 5
    assert samples[("llmlb_model_configured", (("model", GHOST),))] == 0
    for name, (rpm, burst, inflight) in MODELS.items():
        assert samples[("llmlb_model_limit_rpm", (("model", name),))] == rpm
        assert samples[("llmlb_model_limit_max_inflight", (("model", name),))] == inflight
        ok = db.one("SELECT count(*) FROM llmlb.calls WHERE model = %s AND outcome = 'ok'",
                    (name,))
        assert samples[("llmlb_model_calls_recent", (("model", name), ("outcome", "ok")))] == ok
        assert ("llmlb_model_latency_p95_seconds", (("model", name),)) in samples
    assert samples[("llmlb_eta_state", (("state", "no_capacity"),))] == 1
    assert ("llmlb_eta_seconds", ()) not in samples


def test_status_rejects_bad_options(workload):
    db, _, _ = workload
    for args in (["--format", "xml"], ["--json", "--format", "prometheus"],
                 ["--watch", "--json"], ["--watch", "--interval", "abc"],
                 ["--window", "1s"]):
        p = llmlb("status", *args, db_url=db.url)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stderr.startswith("llmlb: error: ") and p.stderr.count("\n") == 1, p.stderr
        assert p.stdout == ""


def test_status_on_unmigrated_database_exits_2(db):
    for args in ([], ["--json"], ["--format", "prometheus"]):
        p = llmlb("status", *args, db_url=db.url)
        assert p.returncode == 2, p.stderr
        assert p.stdout == ""
        assert p.stderr.count("\n") == 1
        assert "no llmlb schema" in p.stderr and "llmlb migrate" in p.stderr


def test_status_on_empty_database_says_so(migrated):
    p = llmlb("status", db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("No tasks and no models yet")
    s = _status_json(migrated.url)
    assert s["empty"] is True and s["models"] == [] and s["eta"]["state"] == "empty"
    p = llmlb("status", "--format", "prometheus", db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    assert parse_prometheus(p.stdout)[("llmlb_tasks_waiting", ())] == 0
    # Tasks but no model: no crash, and the ETA says why there is none.
    migrated.insert_tasks(["a", "b"])
    s = _status_json(migrated.url)
    assert s["empty"] is False and s["eta"]["state"] == "no_enabled_model"
    assert "no enabled model" in llmlb("status", db_url=migrated.url).stdout


def test_status_and_limits_count_only_live_leases_as_in_flight(migrated):
    """In flight = live leases (token set, not expired); a task whose lease expired is waiting
    again. `limits list` reads the same per-model rows and keeps its own columns and order."""
    set_limits(migrated.url, "mb", 60, preference=5)
    set_limits(migrated.url, "ma", 60, preference=5)
    ids = migrated.insert_tasks([f"t{i}" for i in range(4)], model="mb")
    migrated.sql("UPDATE tasks SET lease_token = 1, lease_model = 'mb', leased_at = now(),"
                 " lease_expires_at = now() + interval '1 hour' WHERE id = %s", (ids[0],))
    migrated.sql("UPDATE tasks SET lease_token = 2, lease_model = 'mb',"
                 " leased_at = now() - interval '2 hours',"
                 " lease_expires_at = now() - interval '1 hour' WHERE id = %s", (ids[1],))
    s = _status_json(migrated.url)
    by_name = {m["name"]: m for m in s["models"]}
    assert [m["name"] for m in s["models"]] == ["mb", "ma"]  # same preference: by id
    assert by_name["mb"]["in_flight"] == 1 and by_name["mb"]["waiting"] == 3
    # Calls in flight count from their row in llmlb.calls (a claim writes it as 'sent'); a
    # lease set by hand has none.
    assert by_name["mb"]["sent_last_window"] == 0
    migrated.sql("INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, outcome,"
                 " lease_token) VALUES ('mb', %s, 'w', 'single', clock_timestamp(), 'sent', 1)",
                 (ids[0],))
    s = _status_json(migrated.url)
    by_name = {m["name"]: m for m in s["models"]}
    assert by_name["mb"]["sent_last_window"] == 1
    assert s["backlog"]["in_flight"] == 1 and s["backlog"]["expired_leases"] == 1
    p = llmlb("limits", "list", "--json", db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["name"] for r in rows] == ["ma", "mb"]  # same preference: by name
    assert set(rows[0]) == {"name", "rpm", "burst", "max_inflight", "enabled", "preference",
                            "updated_at"}


def test_status_report_and_progress_agree_on_in_flight(migrated, tmp_path):
    """One definition of in flight (llmlb.live_leases): for the same leases, `status`, the
    report and a worker's progress line show the same per-model counts; expired leases count
    nowhere."""
    set_limits(migrated.url, "m0", 600, max_inflight=10)
    set_limits(migrated.url, "m1", 600, max_inflight=10)
    m0 = migrated.insert_tasks([f"a{i}" for i in range(6)], model="m0")
    m1 = migrated.insert_tasks([f"b{i}" for i in range(2)], model="m1")[-2:]
    live = "now() + interval '1 hour'"
    expired = "now() - interval '1 minute'"
    for ids, model, until in ((m0[:3], "m0", live), (m0[3:5], "m0", expired),
                              (m1[:1], "m1", live)):
        migrated.sql(f"UPDATE tasks SET lease_token = id, lease_owner = 'elsewhere',"
                     f" lease_model = %s, leased_at = now() - interval '2 minutes',"
                     f" lease_expires_at = {until} WHERE id = ANY(%s)", (model, ids))
    want = {"m0": 3, "m1": 1}
    status = {m["name"]: m["in_flight"] for m in _status_json(migrated.url)["models"]}
    assert status == want
    out = tmp_path / "r.html"
    assert llmlb("report", "--since", "10m", "--output", out, db_url=migrated.url).returncode == 0
    cells = re.findall(r"<tr><td>([^<]*)</td>(?:<td>[^<]*</td>){2}<td class=\"in-flight\">(\d+)</td>",
                       out.read_text())
    assert {name: int(n) for name, n in cells} == want
    # A worker that serves no configured model claims nothing (and its sweep hands the expired
    # leases back); its progress line reports every model's live leases.
    p = llmlb("work", "--backend-url", "http://127.0.0.1:9", "--models", "nobody",
              "--max-runtime", "1500ms", "--progress-interval", "500ms", "--no-live",
              "--log-format", "json", db_url=migrated.url, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line)["msg"] for line in p.stderr.splitlines()
             if '"event":"progress"' in line.replace(" ", "")]
    assert lines, p.stderr
    progress = {name: int(n) for name, n in re.findall(r"\| (\S+) \d+/\d+ calls/\d+s (\d+)/\d+ inflight",
                                                         lines[-1])}
    assert progress == want


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_status_watch_refreshes_until_signalled(migrated, tmp_path, sig):
    set_limits(migrated.url, "m0", 60)
    migrated.insert_tasks(["x"] * 3)
    log = tmp_path / "watch.out"
    proc = start_llmlb("status", "--watch", "--interval", "200ms", db_url=migrated.url, log=log)
    try:
        clear = "\x1b[H\x1b[2J"
        assert wait_until(lambda: log.read_text().count(clear) >= 2, timeout=15), log.read_text()
        # The table changes between refreshes: add tasks and see the next frame show them.
        migrated.insert_tasks(["y"] * 4)
        assert wait_until(lambda: "waiting 7 " in log.read_text().split(clear)[-1], timeout=15)
        if sig == signal.SIGTERM:
            # While the database refuses connections the frame says so; then it recovers.
            name = migrated.one("SELECT current_database()")
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    assert wait_until(lambda: "llmlb: error: cannot connect" in
                                      log.read_text().split(clear)[-1], timeout=15)
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            seen = len(log.read_text().split(clear))
            assert wait_until(lambda: "waiting 7 " in log.read_text().split(clear)[-1]
                              and len(log.read_text().split(clear)) > seen, timeout=15)
    finally:
        code = stop(proc, sig)
    assert code == 0
    frames = log.read_text().split("\x1b[H\x1b[2J")[1:]
    assert len(frames) >= 3
    assert all("Every 200ms; Ctrl-C to stop." in f for f in frames)
    assert "waiting 3 " in frames[0]


# --------------------------------------------------------------------------------------- report


class Chromium:
    """Headless Chromium driven over the DevTools protocol on fds 3/4 (--remote-debugging-pipe):
    NUL-terminated JSON messages, no port and no websocket."""

    def __init__(self, workdir: Path):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            pytest.skip("chromium is not installed")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def setup_fds():
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._stderr = open(workdir / "chromium.log", "w")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={tempfile.mkdtemp(dir=workdir)}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=setup_fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._stderr)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events = []

    def _recv(self, until, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if until(msg):
                    return msg
                self.events.append(msg)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_child], [], [], min(left, 0.5))
            if ready:
                data = os.read(self._from_child, 1 << 20)
                if not data:
                    raise EOFError("chromium closed the pipe")
                self._buf += data

    def call(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        answer = self._recv(lambda m, i=self._id: m.get("id") == i, timeout)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def load(self, url, width=1280, height=2000):
        """Opens `url` in a new tab, waits for the load event; returns the session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.call(domain, session=s)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=s)
        self.call("Page.navigate", {"url": url}, session=s)
        self._recv(lambda m: m.get("method") == "Page.loadEventFired")
        return s

    def evaluate(self, session, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=session)
        assert "exceptionDetails" not in r, r
        return r["result"]["value"]

    def screenshot(self, session, path: Path):
        import base64
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        path.write_bytes(base64.b64decode(data))

    def settle(self, seconds=0.5):
        try:
            self._recv(lambda m: False, timeout=seconds)
        except TimeoutError:
            pass

    def problems(self, page_url):
        """Console errors, uncaught exceptions, error log entries, and every request for
        anything but the page itself."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(("exception", p["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert",
                                                                             "warning"):
                found.append(("console", [a.get("value") for a in p.get("args", [])]))
            elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                found.append(("log", p["entry"]["text"], p["entry"].get("url")))
            elif method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if url != page_url and not url.startswith("data:"):
                    found.append(("request", url))
        return found

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
            self.proc.wait(timeout=15)
        except Exception:
            pass
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            os.close(self._to_child)
            os.close(self._from_child)
            self._stderr.close()


SERIES_JS = """JSON.stringify([...document.querySelectorAll('svg [data-series]')].map(e => {
  const b = e.getBBox();
  return {id: e.getAttribute('data-series'), cls: e.getAttribute('class'),
          dash: e.getAttribute('stroke-dasharray'), w: b.width, h: b.height};
}))"""


@pytest.fixture
def chromium(tmp_path):
    browser = Chromium(tmp_path)
    yield browser
    browser.close()


def test_browser_check_catches_a_broken_page(chromium, tmp_path):
    """The console/network check must be able to fail: a page with a script error, a console
    error and a missing image is reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" '
                    'href="data:,"></head><body><img src="missing.png">'
                    '<script>console.error("boom"); nope();</script></body></html>')
    url = page.as_uri()
    chromium.load(url)
    chromium.settle()
    kinds = {p[0] for p in chromium.problems(url)}
    assert {"exception", "console", "request"} <= kinds


def test_report_renders_in_chromium(workload, tmp_path, chromium):
    db, _, _ = workload
    out = tmp_path / "report.html"
    p = llmlb("report", "--since", "1h", "--output", out, db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"llmlb: wrote {out} (last 1h: ")
    html = out.read_text()
    assert "<script" not in html
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".report.html.")]  # no temp left
    assert oct(out.stat().st_mode & 0o777) != "0o600"  # an ordinary file, not a private temp

    url = out.as_uri()
    session = chromium.load(url)
    series = json.loads(chromium.evaluate(session, SERIES_JS))
    chromium.screenshot(session, tmp_path / "report.png")
    chromium.settle()
    assert chromium.problems(url) == []

    drawn = {s["id"]: s for s in series}
    expected = {"backlog", "created", "solved", "failed"}
    for name in MODELS:
        expected |= {f"rate:{name}", f"limit:{name}", f"latency:{name}"}
    error_classes = [r[0] for r in db.sql(
        "SELECT DISTINCT coalesce(error_class, outcome) FROM llmlb.calls WHERE outcome <> 'ok'")]
    expected |= {f"errors:{c}" for c in error_classes}
    assert expected <= set(drawn), sorted(set(expected) - set(drawn))
    assert all("series" in s["cls"].split() for s in series)
    for s in series:
        assert s["w"] > 0, s  # actually laid out, not an empty element
    for name in MODELS:
        assert drawn[f"limit:{name}"]["dash"], "limits are dashed"
        assert not drawn[f"rate:{name}"]["dash"]
    assert f"rate:{GHOST}" not in drawn  # never called: pinned to a model nobody serves
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Text content as the browser parsed it: the summary names every model and the totals.
    text = chromium.evaluate(session, "document.body.innerText")
    calls = db.one("SELECT count(*) FROM llmlb.calls")
    assert f"{calls}\ncalls sent" in text
    for name in MODELS:
        assert name in text


def test_report_escapes_model_names(migrated, tmp_path, chromium):
    evil = '<img src=x onerror=alert(1)>"&'
    migrated.sql(
        "INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, finished_at,"
        " latency_ms, outcome, error_class) SELECT %s, 1, 'w', 'single',"
        " clock_timestamp() - interval '5 minutes', clock_timestamp(), 12, o, c"
        " FROM (VALUES ('ok', NULL), ('transient', '<b>bold</b>')) v(o, c)", (evil,))
    out = tmp_path / "r.html"
    p = llmlb("report", "--since", "10m", "--output", out, db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    assert evil not in html and "<b>bold</b>" not in html
    url = out.as_uri()
    session = chromium.load(url)
    ids = {s["id"] for s in json.loads(chromium.evaluate(session, SERIES_JS))}
    chromium.settle()
    assert chromium.problems(url) == []
    assert f"rate:{evil}" in ids and "errors:<b>bold</b>" in ids
    assert chromium.evaluate(session, "document.querySelectorAll('img').length") == 0
    text = chromium.evaluate(session, "document.body.innerText")
    assert evil in text and "<b>bold</b>" in text  # shown as text, not parsed as markup


def test_report_on_empty_database(migrated, tmp_path):
    out = tmp_path / "empty.html"
    p = llmlb("report", "--since", "5m", "--output", out, db_url=migrated.url)
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    assert "no data in this window" in html and 'data-series="backlog"' in html


def test_report_bad_inputs_exit_2_and_write_nothing(migrated, tmp_path):
    target = tmp_path / "out" / "r.html"
    target.parent.mkdir()
    cases = [
        (["--since", "abc", "--output", target], migrated.url),
        (["--since", "0s", "--output", target], migrated.url),
        (["--since", "1h", "--output", tmp_path / "missing-dir" / "r.html"], migrated.url),
        (["--since", "1h", "--output", target.parent], migrated.url),
        (["--since", "1h", "--output", str(target.parent) + "/"], migrated.url),
    ]
    with fresh_database() as bare:
        cases.append((["--since", "1h", "--output", target], bare.url))  # not migrated
        for args, url in cases:
            p = llmlb("report", *args, db_url=url)
            assert p.returncode == 2, (args, p.stdout, p.stderr)
            assert p.stderr.startswith("llmlb: error: ") and p.stderr.count("\n") == 1, p.stderr
            assert p.stdout == ""
            assert os.listdir(target.parent) == [], (args, os.listdir(target.parent))
    assert not (tmp_path / "missing-dir").exists()
    p = llmlb("report", "--since", "1h", db_url=migrated.url)  # --output is required
    assert p.returncode == 2


def test_report_unwritable_directory(migrated, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        p = llmlb("report", "--output", ro / "r.html", db_url=migrated.url)
        assert p.returncode == 2 and os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------------------------------- prune


def test_prune_deletes_old_calls_only(migrated, backend_factory):
    db = migrated
    backend = backend_factory(time_scale=0.01, fault_5xx=0.1)
    set_limits(db.url, "m0", 6000, burst=50, max_inflight=20)
    db.insert_tasks([f"t{i}" for i in range(30)])
    llmlb("work", "--backend-url", backend.url, *WORK_ARGS, db_url=db.url, check=True)
    total = db.one("SELECT count(*) FROM llmlb.calls")
    assert total >= 30
    tasks_before = db.sql("SELECT id, status, answer, attempts, solved_at FROM tasks ORDER BY id")
    old = db.one("WITH o AS (UPDATE llmlb.calls SET sent_at = sent_at - interval '8 days',"
                 " finished_at = finished_at - interval '8 days'"
                 " WHERE id IN (SELECT id FROM llmlb.calls ORDER BY id LIMIT 12) RETURNING 1)"
                 " SELECT count(*) FROM o")
    assert old == 12
    # Just inside the limit: kept.
    db.sql("UPDATE llmlb.calls SET sent_at = clock_timestamp() - interval '6 days 23 hours'"
           " WHERE id = (SELECT max(id) FROM llmlb.calls)")

    p = llmlb("prune", "--older-than", "7d", "--dry-run", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert "would prune 12 call(s)" in p.stdout
    assert db.one("SELECT count(*) FROM llmlb.calls") == total

    # Worker rows: one that ended 8 days ago and one silent for 8 days go; the recent one stays.
    db.sql("INSERT INTO llmlb.workers (id, host, pid, version, started_at, heartbeat_at,"
           " stopped_at) VALUES"
           " ('old-stopped', 'h', 1, 'x', now() - interval '9 days', now() - interval '8 days',"
           "  now() - interval '8 days'),"
           " ('old-silent', 'h', 2, 'x', now() - interval '9 days', now() - interval '8 days',"
           "  NULL)")
    workers = db.one("SELECT count(*) FROM llmlb.workers")
    assert workers >= 3

    p = llmlb("prune", "--older-than", "7d", "--batch-size", "5", db_url=db.url)
    assert p.returncode == 0, p.stderr
    assert re.match(r"llmlb: pruned 12 call\(s\) sent before \S+Z \(older than 7d\) and 2 "
                    r"ended worker row\(s\); tasks untouched\n$", p.stdout), p.stdout
    assert db.one("SELECT count(*) FROM llmlb.workers") == workers - 2
    assert db.one("SELECT count(*) FROM llmlb.workers WHERE id LIKE 'old-%'") == 0
    assert db.one("SELECT count(*) FROM llmlb.calls") == total - 12
    assert db.one("SELECT count(*) FROM llmlb.calls"
                  " WHERE sent_at < clock_timestamp() - interval '7 days'") == 0
    assert db.sql("SELECT id, status, answer, attempts, solved_at FROM tasks ORDER BY id") == \
        tasks_before
    again = llmlb("prune", "--older-than", "7d", db_url=db.url)
    assert again.returncode == 0 and "pruned 0 call(s)" in again.stdout


def test_prune_bad_input_exit_2(migrated):
    before = migrated.one("SELECT count(*) FROM llmlb.calls")
    for args in (["--older-than", "abc"], ["--older-than", "0s"], ["--older-than", "-1d"],
                 ["--older-than", "7d", "--batch-size", "0"], []):
        p = llmlb("prune", *args, db_url=migrated.url)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stdout == ""
    with fresh_database() as bare:
        p = llmlb("prune", "--older-than", "7d", db_url=bare.url)  # not migrated
    assert p.returncode == 2 and "no llmlb schema" in p.stderr
    assert migrated.one("SELECT count(*) FROM llmlb.calls") == before
