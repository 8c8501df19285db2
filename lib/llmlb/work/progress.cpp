#include "llmlb/work/progress.hpp"

#include "llmlb/util/text.hpp"

#include <fmt/format.h>

#include <cmath>

namespace llmlb::work {

long long backlog(const Figures& f) {
  long long n = f.unpinned_waiting;
  for (const auto& m : f.models) {
    n += m.waiting;
  }
  return n;
}

long long allowed_in_window(const db::ModelRow& m, double window_seconds) {
  return static_cast<long long>(std::floor(m.rpm * window_seconds / 60.0 + m.burst));
}

std::string format_progress(const Totals& t, const Figures& f, double window_seconds) {
  std::string line = fmt::format("solved={} failed={} retried={} in_flight={} backlog={}", t.solved,
                                 t.failed, t.retried, t.in_flight, backlog(f));
  std::string stuck;
  for (const auto& m : f.models) {
    if (!m.configured || !m.enabled) {
      if (m.waiting > 0) {
        stuck += fmt::format(" {}={} ({})", util::sanitize(m.name), m.waiting,
                             m.configured ? "disabled" : "not configured");
      }
      continue;
    }
    // The guarantee's own terms: calls in the window against rpm x W / 60 + burst.
    line += fmt::format(" | {} {}/{} calls/{:.0f}s {}/{} inflight", util::sanitize(m.name),
                        m.sent_last_window, allowed_in_window(m, window_seconds), window_seconds,
                        m.in_flight, m.max_inflight);
    if (m.overloaded()) {  // issue 16: held below max_inflight by overload protection
      line += fmt::format(" (overloaded: {} allowed)", m.effective_max_inflight);
    }
  }
  if (!stuck.empty()) {
    line += " | unsolvable pinned:" + stuck;
  }
  return line;
}

}  // namespace llmlb::work
