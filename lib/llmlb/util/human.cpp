#include "llmlb/util/human.hpp"

#include <fmt/format.h>
#include <cmath>
#include <utility>

namespace llmlb::util {

std::string human_seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "-";
  }
  if (seconds >= 1e9) {
    return "over 30 years";
  }
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  }
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string window_label(double seconds) {
  if (!std::isfinite(seconds) || seconds < 1) {
    return human_seconds(seconds);
  }
  const auto s = static_cast<long long>(std::llround(seconds));
  for (auto [unit, name] :
       {std::pair<long long, const char*>{86400, "d"}, {3600, "h"}, {60, "m"}}) {
    if (s % unit == 0) {
      return fmt::format("{}{}", s / unit, name);
    }
  }
  return fmt::format("{}s", s);
}

std::string human_latency(const std::optional<double>& ms) {
  if (!ms || !std::isfinite(*ms) || *ms < 0) {
    return "-";
  }
  if (*ms < 1000) {
    return fmt::format("{:.0f}ms", *ms);
  }
  if (*ms < 60'000) {
    return fmt::format("{:.2f}s", *ms / 1000.0);
  }
  return human_seconds(*ms / 1000.0);
}

std::string compact_number(double value) {
  if (!std::isfinite(value)) {
    return "-";
  }
  const double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == std::floor(rounded) && std::fabs(rounded) < 1e15) {
    return fmt::format("{}", static_cast<long long>(rounded));
  }
  return fmt::format("{:.1f}", rounded);
}

std::string percent(long long part, long long whole) {
  if (whole <= 0) {
    return "-";
  }
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace llmlb::util
