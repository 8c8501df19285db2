#include "llmlb/work/stop_control.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>

using namespace llmlb::work;
using namespace std::chrono_literals;
using TP = StopControl::Clock::time_point;

TEST_CASE("max-runtime: stops at its end, then drains until the drain deadline") {
  const TP t0{};
  StopControl s(t0, 10s, 3s, 20s);
  CHECK(s.next_deadline() == t0 + 10s);
  CHECK_FALSE(s.tick(t0 + 9s));
  CHECK_FALSE(s.stopping());
  CHECK(s.tick(t0 + 10s));
  CHECK(s.stopping());
  CHECK(s.reason() == StopReason::max_runtime);
  CHECK_FALSE(s.tick(t0 + 11s));  // began once
  CHECK(s.next_deadline() == t0 + 13s);
  CHECK_FALSE(s.drain_over(t0 + 12s));
  CHECK(s.drain_over(t0 + 13s));
  CHECK_FALSE(s.forced());
}

TEST_CASE("without max-runtime nothing is due; until-empty waits for every call") {
  const TP t0{};
  StopControl s(t0, std::nullopt, 3s, 20s);
  CHECK_FALSE(s.next_deadline().has_value());
  CHECK_FALSE(s.tick(t0 + 100h));
  CHECK(s.request(StopReason::until_empty, t0 + 1s));
  CHECK_FALSE(s.request(StopReason::max_tasks, t0 + 2s));  // the first reason stays
  CHECK(s.reason() == StopReason::until_empty);
  CHECK_FALSE(s.drain_over(t0 + 100h));
  CHECK(to_string(s.reason()) == "until-empty");
}

TEST_CASE("first signal: stop with the grace; second signal: forced") {
  const TP t0{};
  StopControl s(t0, std::nullopt, 3s, 20s);
  CHECK(s.on_signals(1, SIGTERM, t0 + 1s));
  CHECK(s.reason() == StopReason::signal);
  CHECK(s.next_deadline() == t0 + 21s);
  CHECK_FALSE(s.forced());
  CHECK_FALSE(s.on_signals(1, SIGINT, t0 + 2s));
  CHECK(s.forced());
  CHECK(s.forced_signal() == SIGINT);
  CHECK(s.drain_over(t0 + 2s));
}

TEST_CASE("two signals at once force at once") {
  const TP t0{};
  StopControl s(t0, std::nullopt, 3s, 20s);
  CHECK(s.on_signals(2, SIGTERM, t0));
  CHECK(s.forced());
  CHECK(s.forced_signal() == SIGTERM);
}

TEST_CASE("a signal during the max-runtime drain shortens it; a second one forces") {
  const TP t0{};
  StopControl s(t0, 10s, 60s, 5s);
  CHECK(s.tick(t0 + 10s));
  CHECK(s.next_deadline() == t0 + 70s);
  CHECK_FALSE(s.on_signals(1, SIGTERM, t0 + 11s));
  CHECK(s.reason() == StopReason::max_runtime);
  CHECK(s.next_deadline() == t0 + 16s);
  CHECK_FALSE(s.forced());
  s.on_signals(1, SIGTERM, t0 + 12s);
  CHECK(s.forced());
  CHECK(s.reason() == StopReason::signal);
}

TEST_CASE("no signal changes nothing") {
  StopControl s(TP{}, std::nullopt, 3s, 20s);
  CHECK_FALSE(s.on_signals(0, 0, TP{}));
  CHECK_FALSE(s.stopping());
}
