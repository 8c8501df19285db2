// How long a task waits before its next attempt after a transient failure.
#pragma once

#include <optional>

namespace llmlb::work {

/// Exponential backoff with equal jitter: the delay after the `attempt`-th failed call (1-based)
/// is base·2^(attempt-1), capped at `max_seconds`, then scaled into [50%, 100%] by `jitter01`
/// (a uniform draw in [0, 1)). Never less than `retry_after` (the server's Retry-After) when
/// given. Inputs out of range are clamped; the result is finite and >= 0.
double retry_delay_seconds(int attempt, double base_seconds, double max_seconds,
                           std::optional<double> retry_after, double jitter01);

}  // namespace llmlb::work
