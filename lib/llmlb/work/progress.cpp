#include "llmlb/work/progress.hpp"

#include "llmlb/util/text.hpp"

#include <fmt/format.h>

namespace llmlb::work {

long long backlog(const Figures& f) {
  long long n = f.unpinned_waiting;
  for (const auto& m : f.models) {
    n += m.waiting;
  }
  return n;
}

std::string format_progress(const Totals& t, const Figures& f, double window_seconds) {
  std::string line = fmt::format("solved={} failed={} retried={} in_flight={} backlog={}", t.solved,
                                 t.failed, t.retried, t.in_flight, backlog(f));
  std::string stuck;
  const double per_minute = window_seconds > 0 ? 60.0 / window_seconds : 0;
  for (const auto& m : f.models) {
    if (!m.configured || !m.enabled) {
      if (m.waiting > 0) {
        stuck += fmt::format(" {}={} ({})", util::sanitize(m.name), m.waiting,
                             m.configured ? "disabled" : "not configured");
      }
      continue;
    }
    line += fmt::format(" | {} {:.0f}/{:.0f}rpm {}/{} inflight", util::sanitize(m.name),
                        static_cast<double>(m.sent_last_window) * per_minute, m.rpm, m.in_flight,
                        m.max_inflight);
  }
  if (!stuck.empty()) {
    line += " | unsolvable pinned:" + stuck;
  }
  return line;
}

}  // namespace llmlb::work
