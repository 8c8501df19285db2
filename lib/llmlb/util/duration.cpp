#include "llmlb/util/duration.hpp"

#include <fmt/format.h>
#include <cmath>
#include <cstdlib>

namespace llmlb::util {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const std::string original(text);
  if (text.empty()) {
    return fail("empty duration");
  }
  double total_ms = 0;
  int parts = 0;
  while (!text.empty()) {
    std::size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == 0) {
      return fail(
          fmt::format("invalid duration '{}': expected a number, e.g. 90s, 5m, 1h30m", original));
    }
    const std::string number(text.substr(0, i));
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(value)) {
      return fail(fmt::format("invalid duration '{}'", original));
    }
    text.remove_prefix(i);
    std::size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) {
      ++u;
    }
    const std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s" || unit.empty()) {
      scale = 1000;
    } else if (unit == "m" || unit == "min") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else if (unit == "d") {
      scale = 86'400'000;
    } else {
      return fail(fmt::format("invalid duration '{}': unknown unit '{}' (use ms, s, m, h or d)",
                              original, unit));
    }
    if (unit.empty() && (!text.empty() || total_ms > 0 || parts > 0)) {
      return fail(fmt::format("invalid duration '{}'", original));
    }
    total_ms += value * scale;
    ++parts;
  }
  if (total_ms > 10.0 * 365 * 86'400'000) {
    return fail(fmt::format("invalid duration '{}': longer than 10 years", original));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms < 1000) {
    return fmt::format("{}ms", ms);
  }
  if (ms < 60'000) {
    return ms % 1000 == 0 ? fmt::format("{}s", ms / 1000)
                          : fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  }
  if (ms < 3'600'000) {
    const auto s = (ms % 60'000) / 1000;
    return s == 0 ? fmt::format("{}m", ms / 60'000) : fmt::format("{}m{}s", ms / 60'000, s);
  }
  const auto m = (ms % 3'600'000) / 60'000;
  return m == 0 ? fmt::format("{}h", ms / 3'600'000) : fmt::format("{}h{}m", ms / 3'600'000, m);
}

}  // namespace llmlb::util
