// Small text helpers shared by the operator views: escaping for HTML and Prometheus, and
// compact human formats for durations, latencies and rates.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace llmlb::ops {

/// Escapes &, <, >, " and ' so that `text` is safe in HTML text and in quoted attributes.
std::string html_escape(std::string_view text);

/// Escapes a Prometheus label value: backslash, double quote and newline (exposition format).
std::string prometheus_label(std::string_view text);

/// Replaces control characters (C0, DEL) with '?', so that names read from the database cannot
/// move the cursor or recolour a terminal.
std::string printable(std::string_view text);

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

}  // namespace llmlb::ops
