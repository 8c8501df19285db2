// Minimal inline-SVG charts for the HTML report: a line chart and a horizontal bar chart. Pure
// string builders, no scripts, no external resources. Every series is an element (or group)
// with class="series" and a data-series attribute, so tests and people can find it. All text
// is HTML-escaped here; callers pass plain text.
#pragma once

#include <string>
#include <vector>

namespace llmlb::report::svg {

/// A point of a line: x as a fraction [0, 1] of the plot's width, y in data units.
struct Point {
  double x = 0;
  double y = 0;
};

/// One polyline.
struct Line {
  std::string id;     ///< data-series value, e.g. "rate:m0"
  std::string label;  ///< tooltip (<title>) text
  std::string color;  ///< CSS colour
  bool dashed = false;
  std::vector<Point> points;
};

/// A labelled position on the x axis, as a fraction [0, 1] of the plot's width.
struct Tick {
  double at = 0;
  std::string label;
};

struct LineChart {
  std::string title;   ///< aria-label of the <svg>
  std::string y_unit;  ///< printed above the y axis
  std::vector<Tick> x_ticks;
  std::vector<Line> lines;
  std::string empty_note = "no data in this window";  ///< shown when no line has a point
  int width = 960;
  int height = 280;
};

/// Renders the chart: y from 0 to a rounded maximum of all points, grid lines, axis labels and
/// one <polyline class="series" data-series="..."> per line (dashed lines get
/// stroke-dasharray). Non-finite points are skipped.
std::string render(const LineChart& chart);

/// One bar of a row.
struct Bar {
  std::string name;  ///< e.g. "p95"; printed left of the value text
  double value = 0;
  std::string text;  ///< value as printed, e.g. "1.2s"
  std::string color;
  double opacity = 1;
};

/// One row of a bar chart: a label and one or more bars drawn under each other.
struct BarRow {
  std::string id;  ///< data-series value of the row's <g class="series">
  std::string label;
  std::vector<Bar> bars;
};

struct BarChart {
  std::string title;
  std::vector<BarRow> rows;
  std::string empty_note = "nothing to show";
  int width = 960;
};

/// Renders horizontal bars, scaled to the largest value; the height grows with the rows.
std::string render(const BarChart& chart);

/// The largest "nice" number (1, 2, 2.5 or 5 times a power of ten) at or above `value`; 1 for
/// values <= 0 or not finite.
double nice_ceiling(double value);

/// A colour of a fixed, colour-blind-friendly palette, cycling after 10.
std::string palette(std::size_t index);

}  // namespace llmlb::report::svg
