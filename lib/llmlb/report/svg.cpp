#include "llmlb/report/svg.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cmath>

#include "llmlb/util/human.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::report::svg {

using util::compact_number;
using util::html_escape;

namespace {

constexpr double kLeft = 64, kRight = 20, kTop = 28, kBottom = 36;

std::string num(double v) {
  return fmt::format("{:.1f}", v);
}

std::string open_svg(const std::string& title, int width, int height) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" "
      "aria-label=\"{0}\" viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\">\n"
      "<title>{0}</title>\n",
      html_escape(title), width, height);
}

}  // namespace

double nice_ceiling(double value) {
  if (!std::isfinite(value) || value <= 0) {
    return 1;
  }
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * power >= value * (1 - 1e-12)) {
      return step * power;
    }
  }
  return 10 * power;
}

std::string palette(std::size_t index) {
  static constexpr std::array<const char*, 10> kColors = {
      "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
      "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#5f6b7a"};
  return kColors[index % kColors.size()];
}

std::string render(const LineChart& c) {
  const double w = c.width, h = c.height;
  const double pw = w - kLeft - kRight, ph = h - kTop - kBottom;
  double max_y = 0;
  bool any = false;
  for (const auto& line : c.lines) {
    for (const auto& p : line.points) {
      if (std::isfinite(p.x) && std::isfinite(p.y)) {
        max_y = std::max(max_y, p.y);
        any = true;
      }
    }
  }
  const double top = nice_ceiling(max_y * 1.05);
  std::string out = open_svg(c.title, c.width, c.height);
  out += fmt::format("<text class=\"unit\" x=\"{}\" y=\"{}\">{}</text>\n", num(kLeft), 16,
                     html_escape(c.y_unit));
  for (int i = 0; i <= 4; ++i) {
    const double v = top * i / 4.0;
    const double y = kTop + ph - ph * i / 4.0;
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
        num(kLeft), num(kLeft + pw), num(y), num(kLeft - 6), num(y + 4), compact_number(v));
  }
  for (const auto& t : c.x_ticks) {
    const double x = kLeft + pw * std::clamp(t.at, 0.0, 1.0);
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        num(x), num(kTop), num(kTop + ph), num(kTop + ph + 18), html_escape(t.label));
  }
  out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                     num(kLeft), num(kTop), num(pw), num(ph));
  for (const auto& line : c.lines) {
    std::string points;
    for (const auto& p : line.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
        continue;
      }
      const double x = kLeft + pw * std::clamp(p.x, 0.0, 1.0);
      const double y = kTop + ph - ph * std::clamp(p.y / top, 0.0, 1.0);
      points += (points.empty() ? "" : " ") + num(x) + "," + num(y);
    }
    out += fmt::format(
        "<polyline class=\"series{}\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2\"{} points=\"{}\"><title>{}</title></polyline>\n",
        line.dashed ? " limit" : "", html_escape(line.id), html_escape(line.color),
        line.dashed ? " stroke-dasharray=\"7 5\"" : "", points, html_escape(line.label));
  }
  if (!any) {
    out += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                       num(kLeft + pw / 2), num(kTop + ph / 2), html_escape(c.empty_note));
  }
  out += "</svg>\n";
  return out;
}

std::string render(const BarChart& c) {
  constexpr double kLabel = 200, kBar = 16, kGap = 4, kRowGap = 12, kText = 150;
  double rows_height = 0;
  double max_v = 0;
  for (const auto& row : c.rows) {
    rows_height +=
        std::max<double>(1, static_cast<double>(row.bars.size())) * (kBar + kGap) + kRowGap;
    for (const auto& b : row.bars) {
      if (std::isfinite(b.value)) {
        max_v = std::max(max_v, b.value);
      }
    }
  }
  if (c.rows.empty()) {
    rows_height = 40;
  }
  const double w = c.width;
  const double bar_width = w - kLabel - kText - 10;
  const int height = static_cast<int>(std::ceil(rows_height + 16));
  std::string out = open_svg(c.title, c.width, height);
  if (c.rows.empty()) {
    out += fmt::format("<text class=\"empty\" x=\"{}\" y=\"28\" text-anchor=\"middle\">{}</text>\n",
                       num(w / 2), html_escape(c.empty_note));
  }
  double y = 8;
  for (const auto& row : c.rows) {
    const double row_h = std::max<double>(1, static_cast<double>(row.bars.size())) * (kBar + kGap);
    out += fmt::format("<g class=\"series\" data-series=\"{}\">\n", html_escape(row.id));
    out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                       num(kLabel - 8), num(y + row_h / 2 + 4), html_escape(row.label));
    double by = y;
    for (const auto& b : row.bars) {
      const double v = std::isfinite(b.value) && b.value > 0 ? b.value : 0;
      const double len = max_v > 0 ? std::max(1.0, bar_width * v / max_v) : 1.0;
      out += fmt::format(
          "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
          "fill-opacity=\"{:.2f}\"><title>{}: {}</title></rect>"
          "<text class=\"value\" x=\"{}\" y=\"{}\">{}</text>\n",
          num(kLabel), num(by), num(len), num(kBar), html_escape(b.color), b.opacity,
          html_escape(row.label + (b.name.empty() ? "" : " " + b.name)), html_escape(b.text),
          num(kLabel + len + 6), num(by + kBar - 4),
          html_escape(b.name.empty() ? b.text : b.name + " " + b.text));
      by += kBar + kGap;
    }
    out += "</g>\n";
    y += row_h + kRowGap;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace llmlb::report::svg
