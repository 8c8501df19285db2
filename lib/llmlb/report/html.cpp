#include "llmlb/report/html.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <ctime>

#include "llmlb/report/svg.hpp"
#include "llmlb/util/human.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::report {

using util::compact_number;
using util::html_escape;
using util::human_latency;
using util::human_seconds;
using util::percent;

namespace {

constexpr const char* kStyle = R"(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
  max-width: 1000px; padding: 0 16px; color: #1d232b; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #dde2e8; padding-bottom: 4px; }
p.note { color: #5a6470; margin: 4px 0 10px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.tile { border: 1px solid #dde2e8; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.tile b { display: block; font-size: 20px; }
.tile span { color: #5a6470; font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 6px; border-bottom: 1px solid #eef1f4; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; color: #3b4550; background: #f6f8fa; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 6px 0; }
svg .grid { stroke: #e3e7ec; stroke-width: 1; }
svg .frame { fill: none; stroke: #c5ccd4; }
svg text { font: 12px system-ui, sans-serif; fill: #3b4550; }
svg text.empty { fill: #8a949f; font-size: 14px; }
svg text.unit { fill: #5a6470; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 2px 0 8px; font-size: 13px; }
.legend span.key { display: inline-block; width: 22px; height: 0; border-top: 3px solid;
  vertical-align: middle; margin-right: 6px; }
.legend span.key.dashed { border-top-style: dashed; }
footer { margin-top: 32px; color: #8a949f; font-size: 12px; }
)";

std::string model_state(const ReportModel& m) {
  if (!m.configured) {
    return "not configured";
  }
  return m.enabled ? "enabled" : "disabled";
}

std::string legend_entry(const std::string& color, bool dashed, const std::string& text) {
  return fmt::format("<span><span class=\"key{}\" style=\"border-color:{}\"></span>{}</span>",
                     dashed ? " dashed" : "", html_escape(color), html_escape(text));
}

double per_minute(long long count, double bucket_seconds) {
  return bucket_seconds > 0 ? static_cast<double>(count) * 60.0 / bucket_seconds : 0;
}

/// Points at the middle of each bucket.
std::vector<svg::Point> bucket_points(const std::vector<double>& values) {
  std::vector<svg::Point> points;
  const double n = static_cast<double>(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    points.push_back({(static_cast<double>(i) + 0.5) / n, values[i]});
  }
  return points;
}

std::string summary(const ReportData& d) {
  long long calls = 0, ok = 0, solved = 0, failed = 0, created = 0;
  for (const auto& m : d.models) {
    calls += m.calls();
    ok += m.ok;
  }
  for (int i = 0; i < d.buckets; ++i) {
    const auto u = static_cast<std::size_t>(i);
    solved += u < d.solved.size() ? d.solved[u] : 0;
    failed += u < d.failed.size() ? d.failed[u] : 0;
    created += u < d.created.size() ? d.created[u] : 0;
  }
  const auto backlog = d.backlog();
  const long long backlog_now = backlog.empty() ? d.backlog_at_start : backlog.back();
  auto tile = [](const std::string& value, const std::string& label) {
    return fmt::format("<div class=\"tile\"><b>{}</b><span>{}</span></div>", html_escape(value),
                       html_escape(label));
  };
  std::string out = "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"tiles\">";
  out += tile(std::to_string(calls), "calls sent");
  out += tile(percent(ok, calls), "calls ok");
  out += tile(std::to_string(created), "tasks created");
  out += tile(std::to_string(solved), "tasks solved");
  out += tile(std::to_string(failed), "tasks failed");
  out += tile(std::to_string(backlog_now), "backlog now");
  out += "</div>\n";
  if (d.models.empty()) {
    out +=
        "<p class=\"note\">No models are configured and no calls were made in this window.</p>\n";
    return out + "</section>\n";
  }
  out +=
      "<table>\n<tr><th>Model</th><th>State</th><th>Limit rpm</th><th>In flight now</th>"
      "<th>Calls</th><th>Avg rpm</th>"
      "<th>Peak calls / 60 s</th><th>OK</th><th>Transient</th><th>Permanent</th><th>Other</th>"
      "<th>p50</th><th>p95</th><th>p99</th></tr>\n";
  const double minutes = (d.stop_epoch - d.start_epoch) / 60.0;
  for (const auto& m : d.models) {
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"in-flight\">{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "</tr>\n",
        html_escape(m.name), model_state(m), m.configured ? compact_number(m.rpm) : "-",
        m.in_flight, m.calls(),
        minutes > 0 ? compact_number(static_cast<double>(m.calls()) / minutes) : "-", m.peak_minute,
        m.ok, m.transient, m.permanent, m.other, human_latency(m.p50_ms), human_latency(m.p95_ms),
        human_latency(m.p99_ms));
  }
  out += "</table>\n";
  // Issue 17: token budgets and the estimator's error (reserved vs settled), when any model
  // has a token budget or reserved tokens in the window.
  if (std::any_of(d.models.begin(), d.models.end(),
                  [](const ReportModel& m) { return m.tpm || m.token_calls > 0; })) {
    out +=
        "<table class=\"tokens\">\n<tr><th>Model</th><th>Limit tpm</th><th>Token burst</th>"
        "<th>Output estimate</th><th>Answered calls</th><th>Tokens reserved</th>"
        "<th>Tokens settled</th><th>Estimator error</th><th>Under-reserved</th></tr>\n";
    for (const auto& m : d.models) {
      if (!m.tpm && m.token_calls == 0) {
        continue;
      }
      const std::string error =
          m.tokens_settled > 0
              ? fmt::format("{:+.1f}%", 100.0 * (static_cast<double>(m.tokens_reserved) /
                                                     static_cast<double>(m.tokens_settled) -
                                                 1.0))
              : "-";
      out += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td><td>{}</td></tr>\n",
          html_escape(m.name), m.tpm ? compact_number(*m.tpm) : "-",
          m.tpm ? compact_number(m.tpm_capacity) : "-",
          m.out_estimate ? compact_number(std::ceil(*m.out_estimate)) : "-", m.token_calls,
          m.tokens_reserved, m.tokens_settled, error, m.under_reserved);
    }
    out += "</table>\n";
  }
  out += "</section>\n";
  return out;
}

std::string rates(const ReportData& d) {
  svg::LineChart chart;
  chart.title = "Requests per minute by model";
  chart.y_unit = "requests / min";
  chart.x_ticks = time_ticks(d.start_epoch, d.stop_epoch);
  std::string legend = "<div class=\"legend\">";
  for (std::size_t i = 0; i < d.models.size(); ++i) {
    const auto& m = d.models[i];
    const auto color = svg::palette(i);
    std::vector<double> values;
    for (long long n : m.sent) {
      values.push_back(per_minute(n, d.bucket_seconds));
    }
    chart.lines.push_back(
        {"rate:" + m.name, m.name + ": requests per minute", color, false, bucket_points(values)});
    legend += legend_entry(color, false, m.name);
    if (m.configured) {
      chart.lines.push_back({"limit:" + m.name,
                             fmt::format("{}: limit {} rpm", m.name, compact_number(m.rpm)),
                             color,
                             true,
                             {{0, m.rpm}, {1, m.rpm}}});
      legend += legend_entry(color, true, fmt::format("{} limit", m.name));
    }
  }
  legend += "</div>\n";
  return fmt::format(
      "<section id=\"rates\">\n<h2>Requests per minute by model</h2>\n<p class=\"note\">Solid: "
      "requests sent per minute in each {} bucket (finished calls by send time, plus calls in "
      "flight). Dashed: the model's current limit.</p>\n{}{}</section>\n",
      human_seconds(d.bucket_seconds), svg::render(chart), legend);
}

std::string latency(const ReportData& d) {
  svg::BarChart chart;
  chart.title = "Latency percentiles of successful calls";
  chart.empty_note = "no successful calls in this window";
  struct Q {
    const char* name;
    std::optional<double> ReportModel::*field;
    double opacity;
  };
  const Q qs[] = {{"p50", &ReportModel::p50_ms, 1.0},
                  {"p90", &ReportModel::p90_ms, 0.8},
                  {"p95", &ReportModel::p95_ms, 0.6},
                  {"p99", &ReportModel::p99_ms, 0.45}};
  for (std::size_t i = 0; i < d.models.size(); ++i) {
    const auto& m = d.models[i];
    if (m.latency_samples == 0) {
      continue;
    }
    svg::BarRow row{"latency:" + m.name, m.name, {}};
    for (const auto& q : qs) {
      const auto& v = m.*(q.field);
      row.bars.push_back(
          {q.name, v.value_or(0) / 1000.0, human_latency(v), svg::palette(i), q.opacity});
    }
    chart.rows.push_back(std::move(row));
  }
  return fmt::format(
      "<section id=\"latency\">\n<h2>Latency of successful calls</h2>\n<p class=\"note\">"
      "Percentiles of the send-to-answer time of ok calls sent in the window, per model.</p>\n"
      "{}</section>\n",
      svg::render(chart));
}

std::string tasks(const ReportData& d) {
  svg::LineChart backlog_chart;
  backlog_chart.title = "Backlog over time";
  backlog_chart.y_unit = "unsolved tasks";
  backlog_chart.x_ticks = time_ticks(d.start_epoch, d.stop_epoch);
  std::vector<svg::Point> points{{0, static_cast<double>(d.backlog_at_start)}};
  const auto backlog = d.backlog();
  for (std::size_t i = 0; i < backlog.size(); ++i) {
    points.push_back({(static_cast<double>(i) + 1) / static_cast<double>(backlog.size()),
                      static_cast<double>(backlog[i])});
  }
  backlog_chart.lines.push_back(
      {"backlog", "unsolved tasks (waiting or in flight)", svg::palette(0), false, points});

  svg::LineChart flow;
  flow.title = "Tasks created, solved and failed per minute";
  flow.y_unit = "tasks / min";
  flow.x_ticks = time_ticks(d.start_epoch, d.stop_epoch);
  const struct {
    const char* id;
    const std::vector<long long>* counts;
    std::string color;
  } series[] = {{"created", &d.created, svg::palette(5)},
                {"solved", &d.solved, svg::palette(3)},
                {"failed", &d.failed, svg::palette(2)}};
  std::string legend = "<div class=\"legend\">";
  for (const auto& s : series) {
    std::vector<double> values;
    for (long long n : *s.counts) {
      values.push_back(per_minute(n, d.bucket_seconds));
    }
    flow.lines.push_back(
        {s.id, std::string(s.id) + " per minute", s.color, false, bucket_points(values)});
    legend += legend_entry(s.color, false, s.id);
  }
  legend += "</div>\n";
  return fmt::format(
      "<section id=\"tasks\">\n<h2>Backlog and throughput</h2>\n<p class=\"note\">Backlog: "
      "unsolved tasks (waiting or in flight) at the end of each bucket, from tasks.created_at "
      "and the time each task was solved or failed.</p>\n{}{}{}</section>\n",
      svg::render(backlog_chart), svg::render(flow), legend);
}

std::string errors(const ReportData& d) {
  long long calls = 0;
  for (const auto& m : d.models) {
    calls += m.calls();
  }
  svg::BarChart chart;
  chart.title = "Failed calls by error class";
  chart.empty_note = "no failed calls in this window";
  for (const auto& [cls, n] : d.errors) {
    chart.rows.push_back(
        {"errors:" + cls,
         cls,
         {{"", static_cast<double>(n), fmt::format("{} ({} of calls)", n, percent(n, calls)),
           svg::palette(2), 1.0}}});
  }
  return fmt::format(
      "<section id=\"errors\">\n<h2>Errors by class</h2>\n<p class=\"note\">Calls in the window "
      "that did not succeed, by error class (or by outcome when a call has no class, e.g. "
      "lost_lease).</p>\n{}</section>\n",
      svg::render(chart));
}

}  // namespace

namespace {

/// Unix time `epoch` in UTC, formatted with strftime `format`.
std::string utc(double epoch, const char* format) {
  if (!std::isfinite(epoch)) {
    return "";
  }
  const auto t = static_cast<std::time_t>(std::floor(epoch));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace

std::vector<svg::Tick> time_ticks(double start, double stop) {
  std::vector<svg::Tick> ticks;
  const double window = stop - start;
  if (!std::isfinite(window) || window <= 0) {
    return ticks;
  }
  static constexpr double kSteps[] = {1,     2,     5,     10,    15,     30,     60,
                                      120,   300,   600,   900,   1800,   3600,   7200,
                                      10800, 21600, 43200, 86400, 172800, 604800, 2592000};
  double step = kSteps[std::size(kSteps) - 1];
  for (double candidate : kSteps) {
    if (window / candidate <= 8) {
      step = candidate;
      break;
    }
  }
  const char* format = step >= 86400    ? "%m-%d"
                       : window > 86400 ? "%m-%d %H:%M"
                       : step < 60      ? "%H:%M:%S"
                                        : "%H:%M";
  for (double t = std::ceil(start / step) * step; t <= stop + 1e-9 && ticks.size() < 16;
       t += step) {
    ticks.push_back({(t - start) / window, utc(t, format)});
  }
  return ticks;
}

std::string render_report_html(const ReportData& d) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<link rel=\"icon\" href=\"data:,\">\n";
  out += fmt::format("<title>llmlb report: last {}</title>\n<style>{}</style>\n</head>\n<body>\n",
                     html_escape(d.since), kStyle);
  out += fmt::format(
      "<header>\n<h1>llmlb report</h1>\n<p class=\"note\">Last {} ({} to {} UTC, database clock), "
      "in {} buckets of {}. Generated at {}.</p>\n</header>\n",
      html_escape(d.since), html_escape(utc(d.start_epoch, "%Y-%m-%d %H:%M:%S")),
      html_escape(utc(d.stop_epoch, "%Y-%m-%d %H:%M:%S")), d.buckets,
      human_seconds(d.bucket_seconds), html_escape(d.generated_at));
  out += summary(d);
  out += rates(d);
  out += latency(d);
  out += tasks(d);
  out += errors(d);
  out += fmt::format("<footer>llmlb {}</footer>\n</body>\n</html>\n", html_escape(LLMLB_VERSION));
  return out;
}

}  // namespace llmlb::report
