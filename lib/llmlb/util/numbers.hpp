// Strict parsing of numbers typed by users.
#pragma once

#include <cstdint>
#include <string_view>

#include "llmlb/util/result.hpp"

namespace llmlb::util {

/// Parses a whole decimal number in [min, max], with no spaces or trailing characters.
Result<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max);

/// Parses a finite number in plain decimal notation in [min, max] ("1.5", "60", "1e3"); no hex
/// ("0x10"), NaN, infinity or blanks.
Result<double> parse_double(std::string_view text, double min, double max);

}  // namespace llmlb::util
