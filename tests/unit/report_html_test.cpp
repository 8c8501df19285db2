// Report data and HTML on fixture data (no database): SVG series, escaping, empty windows,
// ticks.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "llmlb/report/data.hpp"
#include "llmlb/report/html.hpp"

using namespace llmlb::report;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

/// The opening tag of the element whose data-series is `id` (empty when there is none).
std::string tag_of(const std::string& html, const std::string& id) {
  const auto at = html.find("data-series=\"" + id + "\"");
  if (at == std::string::npos) {
    return "";
  }
  const auto begin = html.rfind('<', at);
  return html.substr(begin, html.find('>', at) - begin + 1);
}

/// The value of attribute `name` in `tag` (empty when absent).
std::string attr(const std::string& tag, const std::string& name) {
  const auto at = tag.find(" " + name + "=\"");
  if (at == std::string::npos) {
    return "";
  }
  const auto begin = at + name.size() + 3;
  return tag.substr(begin, tag.find('"', begin) - begin);
}

ReportData fixture() {
  ReportData d;
  d.since = "1h";
  d.generated_at = "2025-01-02T04:00:00Z";
  d.start_epoch = 1735786800;  // 2025-01-02T03:00:00Z
  d.stop_epoch = d.start_epoch + 3600;
  d.buckets = 60;
  d.bucket_seconds = 60;
  ReportModel a;
  a.name = "m0";
  a.configured = true;
  a.enabled = true;
  a.rpm = 120;
  a.max_inflight = 10;
  a.sent.assign(60, 100);
  a.ok = 5800;
  a.transient = 150;
  a.permanent = 40;
  a.other = 10;
  a.peak_minute = 118;
  a.latency_samples = 5800;
  a.p50_ms = 900;
  a.p90_ms = 1800;
  a.p95_ms = 2500;
  a.p99_ms = 4000;
  a.max_ms = 9000;
  a.mean_ms = 1100;
  ReportModel evil;  // a name from the call log that is not configured any more
  evil.name = "<script>alert(1)</script>";
  evil.sent.assign(60, 0);
  evil.sent[10] = 5;
  evil.ok = 5;
  evil.latency_samples = 5;
  evil.p50_ms = 100;
  evil.p90_ms = evil.p95_ms = evil.p99_ms = evil.max_ms = 200;
  d.models = {a, evil};
  d.backlog_at_start = 1000;
  d.created.assign(60, 90);
  d.solved.assign(60, 95);
  d.failed.assign(60, 1);
  d.errors = {{"http_5xx", 150}, {"http_4xx", 40}, {"lost_lease\"&<", 10}};
  return d;
}

}  // namespace

TEST_CASE("report backlog is reconstructed from start level and per-bucket flows") {
  auto d = fixture();
  const auto b = d.backlog();
  REQUIRE(b.size() == 60);
  CHECK(b[0] == 1000 + 90 - 95 - 1);
  CHECK(b[59] == 1000 - 6 * 60);
  d.backlog_at_start = 10;
  CHECK(d.backlog()[59] == 0);  // never below zero
  ReportData empty;
  CHECK(empty.backlog().empty());
}

TEST_CASE("report HTML: self-contained, every chart series present") {
  const auto html = render_report_html(fixture());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("</html>") != std::string::npos);
  // No scripts and nothing fetched: no src=, no http(s) links apart from the SVG namespace.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(count(html, "https:") == 0);
  CHECK(count(html, "http:") == count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(html.find("<link rel=\"icon\" href=\"data:,\">") != std::string::npos);

  CHECK(html.find("data-series=\"rate:m0\"") != std::string::npos);
  CHECK(html.find("data-series=\"limit:m0\"") != std::string::npos);
  CHECK(html.find("data-series=\"latency:m0\"") != std::string::npos);
  CHECK(html.find("data-series=\"backlog\"") != std::string::npos);
  CHECK(html.find("data-series=\"created\"") != std::string::npos);
  CHECK(html.find("data-series=\"solved\"") != std::string::npos);
  CHECK(html.find("data-series=\"failed\"") != std::string::npos);
  CHECK(html.find("data-series=\"errors:http_5xx\"") != std::string::npos);
  CHECK(html.find("data-series=\"errors:http_4xx\"") != std::string::npos);
  // The limit is dashed; the rate is not.
  const auto limit = tag_of(html, "limit:m0");
  CHECK(limit.rfind("<polyline class=\"series limit\"", 0) == 0);
  CHECK(attr(limit, "stroke-dasharray") != "");
  CHECK(attr(tag_of(html, "rate:m0"), "stroke-dasharray") == "");
  // The rate line has one point per bucket, at 100 calls per 60 s bucket = 100 rpm.
  CHECK(count(attr(tag_of(html, "rate:m0"), "points"), ",") == 60);
  // The backlog line starts at the start level and has a point per bucket end.
  CHECK(count(attr(tag_of(html, "backlog"), "points"), ",") == 61);
  // Summary figures.
  CHECK(html.find("<td>m0</td><td>enabled</td><td>120</td><td "
                  "class=\"in-flight\">0</td><td>6000</td><td>100</td>"
                  "<td>118</td>") != std::string::npos);
  CHECK(html.find("Last 1h (2025-01-02 03:00:00 to 2025-01-02 04:00:00 UTC") != std::string::npos);
}

TEST_CASE("report HTML escapes names from the database everywhere") {
  const auto html = render_report_html(fixture());
  CHECK(html.find("<script>alert(1)</script>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("data-series=\"rate:&lt;script&gt;alert(1)&lt;/script&gt;\"") !=
        std::string::npos);
  // An unconfigured model has no limit line.
  CHECK(html.find("data-series=\"limit:&lt;script") == std::string::npos);
  CHECK(html.find("data-series=\"errors:lost_lease&quot;&amp;&lt;\"") != std::string::npos);
  CHECK(html.find("not configured") != std::string::npos);
}

TEST_CASE("report HTML on an empty window still renders every section") {
  ReportData d;
  d.since = "5m";
  d.generated_at = "2025-01-02T04:00:00Z";
  d.start_epoch = 1735786800;
  d.stop_epoch = d.start_epoch + 300;
  d.buckets = 60;
  d.bucket_seconds = 5;
  d.created.assign(60, 0);
  d.solved.assign(60, 0);
  d.failed.assign(60, 0);
  const auto html = render_report_html(d);
  for (const char* id : {"summary", "rates", "latency", "tasks", "errors"}) {
    CHECK_MESSAGE(html.find(std::string("<section id=\"") + id + "\">") != std::string::npos, id);
  }
  CHECK(html.find("no data in this window") != std::string::npos);
  CHECK(html.find("no successful calls in this window") != std::string::npos);
  CHECK(html.find("no failed calls in this window") != std::string::npos);
  CHECK(html.find("nan") == std::string::npos);
  CHECK(html.find("inf") == std::string::npos);
  CHECK(html.find("data-series=\"backlog\"") != std::string::npos);
}

TEST_CASE("time ticks are round UTC times inside the window") {
  // 03:00:00 .. 04:00:00: every 10 minutes.
  auto t = time_ticks(1735786800, 1735786800 + 3600);
  REQUIRE(t.size() == 7);
  CHECK(t[0].label == "03:00");
  CHECK(t[0].at == 0);
  CHECK(t[1].label == "03:10");
  CHECK(t[6].label == "04:00");
  CHECK(t[6].at == doctest::Approx(1));
  // 03:00:07 .. 03:05:07: every minute, from 03:01.
  t = time_ticks(1735786807, 1735786807 + 300);
  REQUIRE(t.size() == 5);
  CHECK(t[0].label == "03:01");
  CHECK(t[0].at == doctest::Approx(53.0 / 300));
  // Short windows get seconds; long ones get dates.
  CHECK(time_ticks(1735786800, 1735786830)[1].label == "03:00:05");
  CHECK(time_ticks(1735786800, 1735786800 + 7 * 86400)[0].label == "01-03");  // midnight
  CHECK(time_ticks(5, 5).empty());
  CHECK(time_ticks(5, 1).empty());
}
