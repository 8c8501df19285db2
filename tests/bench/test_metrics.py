"""The benchmark's bound arithmetic (tests/bench/metrics.py): the figures in docs/ rest on it."""

import pytest

from .common import Limit
from .metrics import backlog_phase, ideal_makespan, makespan_bound, pooled_bound, replay_bound


def test_slots_bind_a_single_slot_runs_calls_back_to_back():
    assert ideal_makespan([1.0, 2.0, 3.0], rpm=1e9, burst=1, max_inflight=1) == pytest.approx(6.0)


def test_slots_bind_the_drain_is_the_longest_call_left_at_the_end():
    # Two slots: 1 and 5 start at 0; 1 ends at 1, the third call (1) runs 1..2; the 5 ends last.
    assert ideal_makespan([1.0, 5.0, 1.0], rpm=1e9, burst=2, max_inflight=2) == pytest.approx(5.0)


def test_rate_binds_calls_start_one_interval_apart_after_the_burst():
    # 60 rpm = one start a second; burst 2: starts at 0, 0, 1, 2; the last ends at 2.1.
    got = ideal_makespan([0.1] * 4, rpm=60, burst=2, max_inflight=100)
    assert got == pytest.approx(2.1)


def test_burst_below_one_still_allows_one_call():
    assert ideal_makespan([0.5, 0.5], rpm=60, burst=0, max_inflight=10) == pytest.approx(1.5)


def test_no_calls_take_no_time():
    assert ideal_makespan([], rpm=60, burst=1, max_inflight=1) == 0.0


def test_ideal_never_beats_n_over_capacity():
    lats = [0.2, 3.0, 0.5, 1.0, 0.7, 2.5, 0.3, 0.9] * 50
    n, k = len(lats), 4
    mean = sum(lats) / n
    got = ideal_makespan(lats, rpm=1e9, burst=1, max_inflight=k)
    assert got >= n * mean / k
    got = ideal_makespan(lats, rpm=600, burst=1, max_inflight=1000)
    assert got >= (n - 1) / 10.0


def test_replay_bound_replays_each_models_latencies_in_arrival_order():
    arrivals = [
        {"ts": 2.0, "model": "a", "latency": 1.0},
        {"ts": 1.0, "model": "a", "latency": 4.0},
        {"ts": 1.5, "model": "b", "latency": 0.5},
        {"ts": 1.6, "model": "zz", "latency": 9.0},  # not a configured model: ignored
    ]
    limits = {"a": Limit(rpm=1e9, burst=1, max_inflight=1),
              "b": Limit(rpm=1e9, burst=1, max_inflight=1)}
    got = replay_bound(arrivals, limits)
    assert got["per_model_s"] == {"a": pytest.approx(5.0), "b": pytest.approx(0.5)}
    assert got["bound_s"] == pytest.approx(5.0)


def test_makespan_bound_is_the_slowest_models_n_over_capacity():
    limits = {"a": Limit(rpm=60, burst=1, max_inflight=100),   # rate: 1/s
              "b": Limit(rpm=6000, burst=1, max_inflight=2)}  # slots: 2 / 4 s = 0.5/s
    got = makespan_bound({"a": 10, "b": 10}, limits, {"a": 0.1, "b": 4.0})
    assert got["per_model"]["a"]["binds"] == "rpm"
    assert got["per_model"]["b"]["binds"] == "max_inflight"
    assert got["bound_s"] == pytest.approx(20.0)


def test_pooled_bound_is_n_over_the_summed_capacities():
    limits = {"a": Limit(rpm=600, burst=1, max_inflight=100),  # rpm binds: 10/s
              "b": Limit(rpm=6000, burst=1, max_inflight=5)}   # 5 slots / 2 s = 2.5/s
    got = pooled_bound(1250, limits, {"a": 1.0, "b": 2.0}, total_concurrency=20)
    assert got["per_model"]["a"]["binds"] == "rpm"
    assert got["per_model"]["b"]["binds"] == "max_inflight"
    assert got["capacity_per_s"] == pytest.approx(12.5)
    assert got["bound_s"] == pytest.approx(100.0)
    assert got["inflight_needed"] == pytest.approx(15.0)  # 10 x 1 s + 2.5 x 2 s
    assert got["concurrency_binds"] is False
    assert pooled_bound(1250, limits, {"a": 1.0, "b": 2.0}, 14)["concurrency_binds"] is True


def test_backlog_phase_splits_at_the_last_call():
    arr = [{"model": "a", "ts": 10.0 + i} for i in range(5)] + [{"ts": 99.0}]  # no model: no call
    got = backlog_phase(arr, t0=10.0, t_end=20.0)
    assert got == {"last_call_s": 4.0, "calls": 5, "calls_per_s": 1.25, "drain_s": 6.0}
