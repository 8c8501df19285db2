#include "llmlb/work/live_table.hpp"
#include "llmlb/work/progress.hpp"

#include <doctest/doctest.h>

using namespace llmlb::work;

namespace {
Figures sample() {
  Figures f;
  f.unpinned_waiting = 100;
  llmlb::db::ModelRow a;
  a.name = "m0";
  a.configured = a.enabled = true;
  a.rpm = 60;
  a.max_inflight = 5;
  a.burst = 2;
  a.sent_last_window = 10;
  a.in_flight = 4;
  a.waiting = 7;
  llmlb::db::ModelRow ghost;
  ghost.name = "ghost";
  ghost.waiting = 3;
  llmlb::db::ModelRow off = a;
  off.name = "off";
  off.enabled = false;
  off.waiting = 2;
  f.models = {a, ghost, off};
  return f;
}
}  // namespace

TEST_CASE("progress line: totals, rate against limit, backlog, unsolvable pinned work") {
  Totals t;
  t.solved = 5;
  t.failed = 1;
  t.in_flight = 4;
  const auto line = format_progress(t, sample(), 10);
  CHECK(line.find("solved=5 failed=1") == 0);
  CHECK(line.find("backlog=112") != std::string::npos);
  // 10 calls in 10 s against 60 rpm x 10 s / 60 + burst 2 = 12.
  CHECK(line.find("m0 10/12 calls/10s 4/5 inflight") != std::string::npos);
  CHECK(line.find("ghost=3 (not configured)") != std::string::npos);
  CHECK(line.find("off=2 (disabled)") != std::string::npos);
}

TEST_CASE("live table has a row per model and a totals row") {
  const auto table = render_table(Totals{}, sample(), 10);
  CHECK(table.find("MODEL") == 0);
  CHECK(table.find("CALLS/10s") != std::string::npos);
  CHECK(table.find(" 83%") != std::string::npos);  // 10 of the 12 calls allowed in 10 s
  CHECK(table.find("not configured") != std::string::npos);
  CHECK(table.find("backlog 112 (100 unpinned)") != std::string::npos);
}

TEST_CASE("progress line: a model held below max_inflight by overload protection says so") {
  Totals t;
  auto f = sample();
  f.models[0].effective_max_inflight = 3;
  CHECK(format_progress(t, f, 10).find("4/5 inflight (overloaded: 3 allowed)") !=
        std::string::npos);
  f.models[0].effective_max_inflight = 5;
  CHECK(format_progress(t, f, 10).find("overloaded") == std::string::npos);
}
