#include "llmlb/work/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace llmlb::work {

double retry_delay_seconds(int attempt, double base_seconds, double max_seconds,
                           std::optional<double> retry_after, double jitter01) {
  const int n = std::clamp(attempt, 1, 60);
  const double base = std::max(0.0, base_seconds);
  const double cap = std::max(0.0, max_seconds);
  const double j = std::isfinite(jitter01) ? std::clamp(jitter01, 0.0, 1.0) : 0.0;
  double delay = std::min(cap, base * std::pow(2.0, n - 1));
  delay *= 0.5 + 0.5 * j;
  if (retry_after && std::isfinite(*retry_after)) {
    delay = std::max(delay, std::min(*retry_after, 24.0 * 3600));
  }
  return std::max(0.0, delay);
}

}  // namespace llmlb::work
