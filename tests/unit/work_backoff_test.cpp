#include "llmlb/work/backoff.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using llmlb::work::retry_delay_seconds;

TEST_CASE("backoff doubles, is capped, and jitters into [50%, 100%]") {
  CHECK(retry_delay_seconds(1, 1, 60, std::nullopt, 1.0) == doctest::Approx(1.0));
  CHECK(retry_delay_seconds(1, 1, 60, std::nullopt, 0.0) == doctest::Approx(0.5));
  CHECK(retry_delay_seconds(3, 1, 60, std::nullopt, 1.0) == doctest::Approx(4.0));
  CHECK(retry_delay_seconds(20, 1, 60, std::nullopt, 1.0) == doctest::Approx(60.0));
  CHECK(retry_delay_seconds(1000, 1, 60, std::nullopt, 0.5) == doctest::Approx(45.0));
}

TEST_CASE("backoff never undercuts Retry-After and survives odd input") {
  CHECK(retry_delay_seconds(1, 1, 60, 7.0, 0.0) == doctest::Approx(7.0));
  CHECK(retry_delay_seconds(5, 1, 60, 2.0, 1.0) == doctest::Approx(16.0));
  CHECK(retry_delay_seconds(0, -1, -1, std::nullopt, 0.3) == doctest::Approx(0.0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isfinite(retry_delay_seconds(2, 1, 60, nan, nan)));
}
