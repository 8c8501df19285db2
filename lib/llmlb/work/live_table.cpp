#include "llmlb/work/live_table.hpp"

#include "llmlb/util/text.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>

namespace llmlb::work {

std::string render_table(const Totals& t, const Figures& f, double window_seconds) {
  std::size_t width = 5;
  for (const auto& m : f.models) {
    width = std::max(width, util::sanitize(m.name, {util::Controls::mark}).size());
  }
  std::string out = fmt::format("{:<{}}  {:>9}  {:>9}  {:>5}  {:>13}  {:>8}  {}\n", "MODEL", width,
                                fmt::format("CALLS/{:.0f}s", window_seconds), "ALLOWED", "USE%",
                                "IN FLIGHT", "PINNED", "STATE");
  for (const auto& m : f.models) {
    const auto allowed = allowed_in_window(m, window_seconds);
    std::string state = !m.configured ? "not configured" : (!m.enabled ? "disabled" : "serving");
    if (!m.configured || !m.enabled) {
      out += fmt::format("{:<{}}  {:>9}  {:>9}  {:>5}  {:>13}  {:>8}  {}\n",
                         util::sanitize(m.name, {util::Controls::mark}), width, "-", "-", "-", "-",
                         m.waiting, state);
      continue;
    }
    out += fmt::format(
        "{:<{}}  {:>9}  {:>9}  {:>4.0f}%  {:>13}  {:>8}  {}\n",
        util::sanitize(m.name, {util::Controls::mark}), width, m.sent_last_window, allowed,
        allowed > 0 ? 100.0 * static_cast<double>(m.sent_last_window) / static_cast<double>(allowed)
                    : 0.0,
        fmt::format("{}/{}", m.in_flight, m.max_inflight), m.waiting, state);
  }
  out += fmt::format(
      "this process: solved {}  failed {}  retried {}  in flight {}  | backlog {} ({} unpinned)\n",
      t.solved, t.failed, t.retried, t.in_flight, backlog(f), f.unpinned_waiting);
  return out;
}

void LiveTable::draw(const Totals& totals, const Figures& figures, double window_seconds) {
  std::string out;
  if (lines_ > 0) {
    out += fmt::format("\x1b[{}F", lines_);  // cursor up to the first line of the last drawing
  }
  const auto table = render_table(totals, figures, window_seconds);
  std::size_t start = 0;
  lines_ = 0;
  while (start < table.size()) {
    const auto end = table.find('\n', start);
    out += "\x1b[2K" + table.substr(start, end - start) + "\n";
    ++lines_;
    start = end + 1;
  }
  out += "\x1b[J";  // clear whatever the previous, longer drawing left below
  [[maybe_unused]] auto n = ::write(fd_, out.data(), out.size());
}

void LiveTable::finish() {
  lines_ = 0;
}

}  // namespace llmlb::work
