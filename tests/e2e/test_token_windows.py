"""Issue 17's window test: with token budgets binding (prompts of mixed length, several
`llmlb work` processes, a tpm lowered mid-run with `limits set`), the tokens the backend
received per model, counted from its own usage figures (the arrival log), stay within
tpm x W / 60 + burst in every window of W seconds, W in {1, 5, 60}.

The run lasts about 36 s, so "60 s" is checked as the longest window that fits (the whole run,
against the 60 s bound and against tpm x D / 60 + burst for its length D)."""
from __future__ import annotations

import random
import time

from tests.sim_backend.answers import usage_for

from .conftest import llmlb, set_limits, start_llmlb

# name: (tpm, tpm_burst, backend output_tokens range)
BUDGETS = {"m0": (60000, 1500, (8, 64)), "m1": (30000, 800, (16, 96))}
LOWERED_TPM = 30000  # m0's tpm from CHANGE_AT on
RUN_S, CHANGE_AT = 36, 16


def max_tokens_in_window(events, window, since=float("-inf"), until=float("inf")):
    """The most tokens in any half-open window [t, t + window) that starts at an event with
    since <= t < until; events are (ts, tokens)."""
    events = sorted(events)
    best, total, j = 0, 0, 0
    for i, (t, _) in enumerate(events):
        while j < len(events) and events[j][0] < t + window:
            total += events[j][1]
            j += 1
        if since <= t < until:
            best = max(best, total)
        total -= events[i][1]
    return best


def prompts(rng, n):
    """Mixed lengths: 20 to 1200 bytes (5 to 300 prompt tokens), some multi-byte."""
    out = []
    for i in range(n):
        size = rng.choice([20, 60, 200, 400, 800, 1200])
        text = f"task {i} " + ("é" if i % 7 == 0 else "x") * size
        out.append(text[:size] if i % 7 else text[: size // 2])
    return out


def test_backend_tokens_stay_within_the_budget_in_every_window(migrated, backend_factory,
                                                                 tmp_path):
    db = migrated
    rng = random.Random(17)
    for i, (m, (tpm, burst, _)) in enumerate(BUDGETS.items()):
        set_limits(db.url, m, 6000, burst=100, max_inflight=40, preference=i)
        llmlb("limits", "set", m, "--tpm", tpm, "--tpm-burst", burst, db_url=db.url, check=True)
    backend = backend_factory(
        models={"models": {m: {"median": 0.3, "sigma": 0.4, "output_tokens": list(out)}
                           for m, (_, _, out) in BUDGETS.items()}},
        time_scale=1, min_latency=0.01, seed=17)
    for m, n in (("m0", 900), ("m1", 500)):
        db.insert_tasks(prompts(rng, n), model=m)
    start = time.time()
    procs = [start_llmlb("work", "--backend-url", backend.url, "--max-runtime", f"{RUN_S}s",
                         "--drain-timeout", "15s", db_url=db.url, log=tmp_path / f"w{i}.log")
             for i in range(3)]
    time.sleep(max(0.0, start + CHANGE_AT - time.time()))
    changed_at = time.time()
    llmlb("limits", "set", "m0", "--tpm", LOWERED_TPM, db_url=db.url, check=True)
    codes = [p.wait(timeout=RUN_S + 40) for p in procs]
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(3))
    assert codes == [0, 0, 0], logs

    arrivals = backend.arrivals()
    ok = [a for a in arrivals if a["outcome"] == "ok"]
    assert len(ok) == len(arrivals), {a["outcome"] for a in arrivals}
    events = {m: [(a["ts"], a["prompt_tokens"] + a["completion_tokens"]) for a in ok
                  if a["model"] == m] for m in BUDGETS}
    # The backend's figures are the simulator's deterministic usage.
    solved = dict(db.sql("SELECT id, prompt FROM tasks WHERE status = 'solved'"))
    assert len(solved) == len(ok)
    end = max(a["ts"] for a in ok)
    for m, (tpm, burst, out) in BUDGETS.items():
        ev = events[m]
        assert len(ev) >= 50, (m, len(ev))
        for w in (1, 5, 60):
            bound = tpm * w / 60 + burst
            if m == "m0":
                # Before the change (and for a second after it, while claims see it): the old
                # budget; windows that start later: the lowered one.
                seen_before = max_tokens_in_window(ev, w, until=changed_at + 1.0)
                assert seen_before <= bound, (m, w, seen_before, bound)
                low = LOWERED_TPM * w / 60 + burst
                seen_after = max_tokens_in_window(ev, w, since=changed_at + 1.0)
                assert seen_after <= low, (m, w, "after the change", seen_after, low)
            else:
                seen = max_tokens_in_window(ev, w)
                assert seen <= bound, (m, w, seen, bound)
        # The longest window that fits: the whole run, against its own length.
        first = min(t for t, _ in ev)
        if m == "m1":
            d = end - first
            total = sum(n for _, n in ev)
            assert total <= tpm * d / 60 + burst, (m, total, d)
            # The budget binds: the model got most of it.
            assert total >= 0.8 * tpm * (d - 1) / 60, (m, total, d)
        else:
            after = sum(n for t, n in ev if t >= changed_at + 1.0)
            assert after >= 0.7 * LOWERED_TPM * (end - changed_at - 1.0) / 60, (m, after)
    # llmlb settled every answer from the backend's own usage: per model, the same tokens.
    for m in BUDGETS:
        settled = db.one("SELECT sum(settled_tokens) FROM llmlb.calls"
                         " WHERE model = %s AND outcome = 'ok'", (m,))
        assert settled == sum(n for _, n in events[m]), m
    # And the usage the backend reported is the simulator's formula for each prompt.
    for task_id, prompt in list(solved.items())[:50]:
        m = db.one("SELECT answered_by FROM tasks WHERE id = %s", (task_id,))
        p, c = usage_for(m, prompt, BUDGETS[m][2])
        assert db.sql("SELECT prompt_tokens, completion_tokens FROM llmlb.calls"
                      " WHERE task_id = %s AND outcome = 'ok'", (task_id,)) == [(p, c)]
    assert db.one("SELECT count(*) FROM llmlb.calls WHERE settled_tokens IS NULL") == 0
