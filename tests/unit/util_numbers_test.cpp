#include "llmlb/util/numbers.hpp"

#include <doctest/doctest.h>

using llmlb::util::parse_double;
using llmlb::util::parse_int;

TEST_CASE("parse_int is strict") {
  CHECK(parse_int("42", 0, 100).value() == 42);
  CHECK_FALSE(parse_int("", 0, 100).ok());
  CHECK_FALSE(parse_int("4 2", 0, 100).ok());
  CHECK_FALSE(parse_int("1.5", 0, 100).ok());
  CHECK_FALSE(parse_int("101", 0, 100).ok());
  CHECK(parse_int("101", 0, 100).error() == "must be between 0 and 100");
}

TEST_CASE("parse_double rejects non-finite and trailing text") {
  CHECK(parse_double("1.5", 0, 10).value() == doctest::Approx(1.5));
  CHECK(parse_double("1e3", 0, 1e4).value() == doctest::Approx(1000));
  for (const char* bad : {"nan", "inf", "-inf", "abc", "1.5x", " 1", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_double(bad, -1e9, 1e9).ok());
  }
  CHECK_FALSE(parse_double("-5", 0, 10).ok());
}

TEST_CASE("parse_double takes plain decimal notation only") {
  CHECK(parse_double("60", 0, 100).value() == doctest::Approx(60));
  CHECK(parse_double(".5", 0, 1).value() == doctest::Approx(0.5));
  CHECK(parse_double("5.", 0, 10).value() == doctest::Approx(5));
  CHECK(parse_double("1E2", 0, 1000).value() == doctest::Approx(100));
  CHECK(parse_double("+3", 0, 10).value() == doctest::Approx(3));
  for (const char* bad : {"0x10", "0X1p4", "inf", "infinity", "nan", " 60", "60 ", "1e", "e5", ".",
                          "-", "1.2.3", "1e+"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_double(bad, -1e9, 1e9).ok());
  }
}
