#include "llmlb/util/numbers.hpp"

#include <fmt/format.h>
#include <charconv>
#include <cmath>
#include <string>

namespace llmlb::util {

Result<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return fail("expected a whole number");
  }
  if (v < min || v > max) {
    return fail(fmt::format("must be between {} and {}", min, max));
  }
  return v;
}

namespace {

/// Plain decimal notation: [+-] digits [. digits] [(e|E) [+-] digits], with at least one digit
/// before the exponent. Rejects what strtod also takes: hex ("0x10"), "inf", "nan", blanks.
bool plain_decimal(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const auto start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
    }
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    ++i;
  }
  auto mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == s.size();
}

}  // namespace

Result<double> parse_double(std::string_view text, double min, double max) {
  if (!plain_decimal(text)) {
    return fail("expected a number");
  }
  const std::string s(text);
  char* end = nullptr;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) ||
      std::isspace(static_cast<unsigned char>(s[0]))) {
    return fail("expected a number");
  }
  if (v < min || v > max) {
    return fail(fmt::format("must be between {} and {}", min, max));
  }
  return v;
}

}  // namespace llmlb::util
