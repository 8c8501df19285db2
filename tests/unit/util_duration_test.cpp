#include "llmlb/util/duration.hpp"

#include <doctest/doctest.h>

#include <string>

using llmlb::util::format_duration;
using llmlb::util::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("parse_duration accepts units, sums and fractions") {
  CHECK(parse_duration("250ms").value() == milliseconds(250));
  CHECK(parse_duration("90s").value() == milliseconds(90'000));
  CHECK(parse_duration("90").value() == milliseconds(90'000));
  CHECK(parse_duration("5m").value() == milliseconds(300'000));
  CHECK(parse_duration("1h30m").value() == milliseconds(5'400'000));
  CHECK(parse_duration("7d").value() == milliseconds(604'800'000));
  CHECK(parse_duration("1.5s").value() == milliseconds(1500));
}

TEST_CASE("parse_duration rejects garbage with a message") {
  for (std::string bad : {"", "abc", "5x", "-1s", "s", "1s2", "1e999s", "99999d"}) {
    CAPTURE(bad);
    auto r = parse_duration(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_FALSE(r.error().empty());
  }
}

TEST_CASE("format_duration is compact") {
  CHECK(format_duration(milliseconds(250)) == "250ms");
  CHECK(format_duration(milliseconds(1500)) == "1.5s");
  CHECK(format_duration(milliseconds(150'000)) == "2m30s");
  CHECK(format_duration(milliseconds(3'600'000)) == "1h");
  CHECK(format_duration(milliseconds(180'000)) == "3m");
  CHECK(format_duration(milliseconds(5'400'000)) == "1h30m");
}
