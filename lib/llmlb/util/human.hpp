// Compact human formats for durations, latencies, numbers and rates, shared by the status and
// report views.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace llmlb::util {

/// A duration in seconds for people: "45s", "2m05s", "3h12m", "2d04h"; "over 30 years" from 1e9
/// seconds on; "-" when negative or not finite.
std::string human_seconds(double seconds);

/// A window length for column headers: "60s" -> "1m", "300s" -> "5m", "3600s" -> "1h", "90s" ->
/// "90s"; the largest whole unit of d, h, m, s.
std::string window_label(double seconds);

/// A latency in milliseconds for people: "850ms", "1.24s", "2m05s"; "-" when unset.
std::string human_latency(const std::optional<double>& ms);

/// A number with at most one decimal, without a trailing ".0": "12", "0.5", "1234.5".
std::string compact_number(double value);

/// A ratio as a percentage with one decimal ("12.5%"), or "-" when `whole` is 0.
std::string percent(long long part, long long whole);

}  // namespace llmlb::util
