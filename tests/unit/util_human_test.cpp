// Human formats of durations, latencies, numbers and ratios.
#include "llmlb/util/human.hpp"

#include <doctest/doctest.h>

using namespace llmlb::util;

TEST_CASE("human formats") {
  CHECK(human_seconds(5) == "5s");
  CHECK(human_seconds(125) == "2m05s");
  CHECK(human_seconds(3 * 3600 + 720) == "3h12m");
  CHECK(human_seconds(2 * 86400 + 4 * 3600) == "2d04h");
  CHECK(human_seconds(-1) == "-");
  CHECK(human_seconds(1e300) == "over 30 years");
  CHECK(window_label(60) == "1m");
  CHECK(window_label(300) == "5m");
  CHECK(window_label(90) == "90s");
  CHECK(window_label(7200) == "2h");
  CHECK(human_latency(std::nullopt) == "-");
  CHECK(human_latency(850.4) == "850ms");
  CHECK(human_latency(1240) == "1.24s");
  CHECK(compact_number(12.0) == "12");
  CHECK(compact_number(0.25) == "0.3");
  CHECK(percent(1, 8) == "12.5%");
  CHECK(percent(1, 0) == "-");
}
