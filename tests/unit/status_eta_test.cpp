// The ETA model and model capacity of `llmlb status` (pure, no database).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "llmlb/status/eta.hpp"
#include "support/status_fixture.hpp"

using namespace llmlb::status;
using llmlb::status::testing::model;

TEST_CASE("model capacity: rate times factor, capped by max_inflight over mean latency") {
  auto m = model("a", 600, 50);
  CHECK(model_capacity(m) == doctest::Approx(10.0));
  m.rate_factor = 0.5;
  CHECK(model_capacity(m) == doctest::Approx(5.0));
  m.rate_factor = 1;
  m.mean_ms = 10'000;  // 50 in flight / 10 s = 5/s < 10/s
  CHECK(model_capacity(m) == doctest::Approx(5.0));
  m.mean_ms = 0;  // unknown latency does not cap
  CHECK(model_capacity(m) == doctest::Approx(10.0));
  m.enabled = false;
  CHECK(model_capacity(m) == 0);
  ModelStatus unconfigured;
  unconfigured.name = "x";
  unconfigured.rpm = 100;
  CHECK(model_capacity(unconfigured) == 0);
}

TEST_CASE("ETA: pinned work by its model, everything by all enabled models") {
  Backlog b;
  std::vector<ModelStatus> models{model("a", 600, 100), model("b", 60, 100)};  // 10/s, 1/s
  b.unpinned_waiting = 110;
  auto eta = compute_eta(b, models);
  REQUIRE(eta.state == EtaState::ok);
  CHECK(*eta.seconds == doctest::Approx(10.0));  // 110 / 11
  // 30 pinned to b alone take 30 s, longer than everything together (140 / 11 = 12.7 s).
  b.pinned_waiting["b"] = 30;
  eta = compute_eta(b, models);
  CHECK(*eta.seconds == doctest::Approx(30.0));
  CHECK(eta.stuck_tasks == 0);
}

TEST_CASE("ETA: stuck tasks, no enabled model, no capacity, empty") {
  Backlog b;
  CHECK(compute_eta(b, {}).state == EtaState::empty);
  CHECK(*compute_eta(b, {}).seconds == 0);

  b.unpinned_waiting = 5;
  const auto none = compute_eta(b, {model("a", 60, 1, false)});
  CHECK(none.state == EtaState::no_enabled_model);
  CHECK_FALSE(none.seconds.has_value());
  CHECK(compute_eta(b, {}).state == EtaState::no_enabled_model);

  // Pinned to an unconfigured and a disabled model: reported apart, the rest still has an ETA.
  b.pinned_waiting = {{"ghost", 4}, {"off", 2}};
  const auto partial = compute_eta(b, {model("a", 60, 10), model("off", 60, 10, false)});
  CHECK(partial.state == EtaState::ok);
  CHECK(*partial.seconds == doctest::Approx(5.0));
  CHECK(partial.stuck_tasks == 6);
  CHECK(partial.stuck_models == std::vector<std::string>{"ghost", "off"});

  // Only stuck work left: no capacity for it, and no division by zero anywhere.
  b.unpinned_waiting = 0;
  const auto stuck = compute_eta(b, {model("a", 60, 10)});
  CHECK(stuck.state == EtaState::no_capacity);
  CHECK_FALSE(stuck.seconds.has_value());

  // An enabled model whose rate is 0 (not storable, but never divide by it).
  Backlog c;
  c.pinned_waiting = {{"zero", 3}};
  auto zero = model("zero", 0, 10);
  CHECK(compute_eta(c, {zero}).state == EtaState::no_capacity);
}

TEST_CASE("no ETA while a cooldown blocks every model that could take the work") {
  Backlog b;
  b.pinned_waiting["a"] = 100;
  auto a = model("a", 600, 50);
  a.cooldown_seconds = 600;
  auto e = compute_eta(b, {a});
  CHECK(e.state == EtaState::cooldown);
  CHECK_FALSE(e.seconds.has_value());
  CHECK(e.resumes_in_seconds == doctest::Approx(600));
  // Another model that can take unpinned work is not cooling down: an estimate, and the
  // cooling model's pinned work waits for its cooldown first.
  b.unpinned_waiting = 10;
  auto c = model("c", 600, 50);
  e = compute_eta(b, {a, c});
  CHECK(e.state == EtaState::ok);
  CHECK(e.seconds.value() >= 600 + 10);
  // Unpinned work only, both cooling: the first to resume is reported.
  b.pinned_waiting.clear();
  c.cooldown_seconds = 30;
  e = compute_eta(b, {a, c});
  CHECK(e.state == EtaState::cooldown);
  CHECK(e.resumes_in_seconds == doctest::Approx(30));
}
