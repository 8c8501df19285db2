#include "llmlb/work/claim_schedule.hpp"

#include "llmlb/db/worker_codec.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using llmlb::work::ClaimSchedule;
using llmlb::work::ModelState;
using namespace std::chrono_literals;

namespace {

using Names = std::vector<std::string>;

ModelState state(std::string model, std::string note, double wait = 0) {
  return ModelState{std::move(model), *llmlb::db::note_from_sql(note), wait};
}

}  // namespace

TEST_CASE("claim schedule: the first claim is a full one, due at once") {
  ClaimSchedule s(250ms);
  const auto t0 = ClaimSchedule::Clock::now();
  CHECK(s.next_due() <= t0);
  CHECK_FALSE(s.plan(t0).has_value());
}

TEST_CASE("claim schedule: between full claims only due models are claimed") {
  ClaimSchedule s(250ms);
  const auto t0 = ClaimSchedule::Clock::now();
  s.record({state("a", "rate", 0.040), state("b", "rate", 0.100), state("c", "idle"),
            state("d", "inflight")},
           std::nullopt, t0);
  // The earliest token (a's, 40 ms and a little slack) sets the next claim.
  CHECK(s.next_due() > t0 + 40ms);
  CHECK(s.next_due() < t0 + 41ms);
  CHECK(*s.plan(t0 + 41ms) == Names{"a"});
  CHECK(*s.plan(t0 + 101ms) == Names{"a", "b"});
  // The idle model and the one waiting for a slot wait for the next full claim...
  CHECK_FALSE(s.plan(t0 + 250ms).has_value());
  // ...unless a call of this process finishes first: then the slot-bound one is due.
  s.on_completion(t0 + 60ms);
  CHECK(*s.plan(t0 + 60ms) == Names{"a", "d"});
}

TEST_CASE("claim schedule: a partial claim updates only the models it covered") {
  ClaimSchedule s(250ms);
  const auto t0 = ClaimSchedule::Clock::now();
  s.record({state("a", "rate", 0.010), state("b", "rate", 0.200)}, std::nullopt, t0);
  const auto asked = s.plan(t0 + 11ms);
  REQUIRE(asked.has_value());
  CHECK(*asked == Names{"a"});
  s.record({state("a", "more")}, asked, t0 + 11ms);
  CHECK(*s.plan(t0 + 11ms) == Names{"a"});  // stopped at its fair share: again at once
  CHECK(s.next_due() == t0 + 11ms);
  s.record({state("a", "rate", 0.500)}, Names{"a"}, t0 + 12ms);
  // b keeps its own due time; a's half second is cut short by the full claim at 250 ms.
  CHECK(s.next_due() > t0 + 200ms);
  CHECK(s.next_due() < t0 + 201ms);
  CHECK_FALSE(s.all_idle());
}

TEST_CASE("claim schedule: models no longer reported are forgotten") {
  ClaimSchedule s(250ms);
  const auto t0 = ClaimSchedule::Clock::now();
  s.record({state("a", "rate", 0.010), state("b", "rate", 0.010)}, std::nullopt, t0);
  // b was disabled: a partial claim asked for both and heard only of a.
  s.record({state("a", "rate", 0.010)}, Names{"a", "b"}, t0 + 11ms);
  CHECK(*s.plan(t0 + 30ms) == Names{"a"});
  // A full claim drops every model it did not report.
  s.record({state("c", "rate", 0.010)}, std::nullopt, t0 + 40ms);
  CHECK(*s.plan(t0 + 60ms) == Names{"c"});
}

TEST_CASE("claim schedule: all_idle only after a full claim that found no work") {
  ClaimSchedule s(100ms);
  const auto t0 = ClaimSchedule::Clock::now();
  s.record({state("a", "idle"), state("b", "idle")}, std::nullopt, t0);
  CHECK(s.all_idle());
  CHECK(s.next_due() == t0 + 100ms);  // nothing due: the next full claim, at the poll interval
  s.record({state("a", "idle"), state("b", "cooldown", 5.0)}, std::nullopt, t0 + 100ms);
  CHECK_FALSE(s.all_idle());
  CHECK(s.next_due() == t0 + 200ms);  // a cooldown longer than the poll interval waits for it
}
