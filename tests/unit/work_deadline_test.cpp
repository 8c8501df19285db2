#include "llmlb/work/deadline.hpp"

#include <doctest/doctest.h>

#include <chrono>

#include "llmlb/work/stop_control.hpp"

using namespace llmlb::work;
using namespace std::chrono_literals;
using TP = DeadlinePlanner::Clock::time_point;

TEST_CASE("a model is claimed only while its expected call fits before the deadline") {
  DeadlinePlanner p(180);
  p.set_estimates({{"fast", 0.5}, {"slow", 40.0}, {"bad", -1}});
  const TP t0{};
  const auto end = t0 + 60s;
  CHECK(p.fits("slow", t0, end));
  CHECK(p.fits("slow", t0 + 20s, end));
  CHECK_FALSE(p.fits("slow", t0 + 21s, end));
  CHECK(p.fits("fast", t0 + 59s, end));
  CHECK_FALSE(p.fits("fast", t0 + 60s, end));
  // No history: as slow as the slowest known model; nothing known at all: the fallback.
  CHECK(p.estimate("new") == doctest::Approx(40.0));
  CHECK(p.estimate("bad") == doctest::Approx(40.0));
  CHECK(DeadlinePlanner(180).estimate("new") == doctest::Approx(180.0));
  CHECK(p.fitting({"fast", "slow", "new"}, t0 + 30s, end) == std::vector<std::string>{"fast"});
}

TEST_CASE("ClaimDeadline keeps a full claim full while everything fits, then cuts it") {
  ClaimDeadline d(180, 10s);
  const TP t0{};
  CHECK(d.refresh_due(t0));
  d.refresh({{"fast", 1.0}, {"slow", 30.0}}, t0);
  CHECK_FALSE(d.refresh_due(t0 + 9s));
  CHECK(d.refresh_due(t0 + 10s));
  const std::vector<std::string> known{"fast", "slow"};
  const auto end = t0 + 60s;
  CHECK_FALSE(d.restrict(std::nullopt, {}, known, t0, end).has_value());  // full claim stays
  CHECK(*d.restrict(std::nullopt, {}, known, t0 + 45s, end) == std::vector<std::string>{"fast"});
  CHECK(d.restrict(std::nullopt, {}, known, t0 + 59500ms, end)->empty());  // nothing fits
  // A partial claim and --models are cut the same way.
  CHECK(*d.restrict(std::vector<std::string>{"slow"}, {}, known, t0 + 45s, end) ==
        std::vector<std::string>{});
  CHECK(*d.restrict(std::nullopt, {"slow", "fast"}, known, t0 + 45s, end) ==
        std::vector<std::string>{"fast"});
  // Nothing known yet (the first claim): no restriction.
  CHECK_FALSE(d.restrict(std::nullopt, {}, {}, t0 + 59s, end).has_value());
}

TEST_CASE("the call deadline is the runtime's end plus the drain, while running") {
  const TP t0{};
  StopControl s(t0, 240s, 30s, 20s);
  CHECK(s.call_deadline() == t0 + 270s);
  CHECK(StopControl(t0, std::nullopt, 30s, 20s).call_deadline() == std::nullopt);
  s.tick(t0 + 240s);
  CHECK_FALSE(s.call_deadline().has_value());  // stopping: no claims anyway
}
