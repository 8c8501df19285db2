// The HTML page of `llmlb report` (pure; unit-tested on fixture data).
#pragma once

#include <string>
#include <vector>

#include "llmlb/report/data.hpp"
#include "llmlb/report/svg.hpp"

namespace llmlb::report {

/// A self-contained HTML5 page: inline CSS and inline SVG only, no scripts, no external
/// resources (the favicon is an empty data: URL so browsers fetch nothing). Sections: a summary
/// with a per-model table; requests per minute per model against its current limit (series
/// "rate:<model>" and dashed "limit:<model>"); latency percentiles of ok calls per model
/// ("latency:<model>"); backlog ("backlog") and tasks created/solved/failed per minute
/// ("created", "solved", "failed"); errors by class ("errors:<class>"). All text from the
/// database (model names, error classes) is HTML-escaped. Times are UTC.
std::string render_report_html(const ReportData& data);

/// Time-axis ticks for the window [start, stop] (Unix seconds): at most 8, at whole multiples
/// (in UTC) of a round step (1s, 2s, 5s, ... 10m, 15m, 30m, 1h, ... 1d, 2d, 7d), positioned as a
/// fraction of the window and labelled in UTC: "HH:MM:SS" for steps under a minute, "HH:MM" (with
/// "MM-DD " in front for windows over a day), "MM-DD" for steps of a day or more. Empty for an
/// empty or reversed window.
std::vector<svg::Tick> time_ticks(double start, double stop);

}  // namespace llmlb::report
