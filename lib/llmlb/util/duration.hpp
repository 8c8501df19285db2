// Parsing and printing of durations such as "250ms", "90s", "5m", "1h30m", "7d".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "llmlb/util/result.hpp"

namespace llmlb::util {

/// Parses a duration: one or more <number><unit> parts, unit one of ms, s, m, h, d; a bare number
/// means seconds. Fractions are allowed ("1.5s"). Returns a failure for an empty string, a
/// negative or unknown unit, or a value over 10 years.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats a duration compactly, as parse_duration reads it back: "250ms", "1.5s", "3m",
/// "2m30s", "1h", "1h30m" (seconds are dropped from an hour on).
std::string format_duration(std::chrono::milliseconds d);

}  // namespace llmlb::util
