// The inline-SVG charts of the report (pure string builders).
#include "llmlb/report/svg.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace llmlb::report;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("svg helpers") {
  CHECK(svg::nice_ceiling(0) == 1);
  CHECK(svg::nice_ceiling(NAN) == 1);
  CHECK(svg::nice_ceiling(7) == 10);
  CHECK(svg::nice_ceiling(120) == 200);
  CHECK(svg::nice_ceiling(2.2) == 2.5);
  CHECK(svg::nice_ceiling(500) == 500);
  CHECK(svg::palette(0) == svg::palette(10));

  svg::LineChart c;
  c.title = "a <b>";
  c.lines.push_back({"s:1", "one", "#000", false, {{0, 1}, {0.5, NAN}, {1, 3}}});
  const auto out = svg::render(c);
  CHECK(out.find("aria-label=\"a &lt;b&gt;\"") != std::string::npos);
  CHECK(out.find("class=\"series\" data-series=\"s:1\"") != std::string::npos);
  CHECK(out.find("nan") == std::string::npos);  // non-finite points are skipped
  CHECK(out.find("no data in this window") == std::string::npos);

  svg::BarChart b;
  b.rows.push_back({"errors:x", "x", {{"", 5, "5", "#f00", 1}}});
  b.rows.push_back({"errors:y", "y", {{"", 0, "0", "#f00", 1}}});
  const auto bars = svg::render(b);
  CHECK(count(bars, "<g class=\"series\"") == 2);
  CHECK(count(bars, "<rect class=\"bar\"") == 2);
  CHECK(svg::render(svg::BarChart{}).find("nothing to show") != std::string::npos);
}
