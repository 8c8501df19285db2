// The progress line `llmlb work` prints every 10 s, and its final summary.
#pragma once

#include <string>

#include "llmlb/work/store.hpp"

namespace llmlb::work {

/// This process's running totals.
struct Totals {
  long long claimed = 0, solved = 0, failed = 0, retried = 0, released = 0, lost = 0;
  long long abandoned = 0;  ///< calls given up while in flight (drain over, forced stop)
  long long in_flight = 0;

  /// Adds one write-back's counts.
  void add(const WriteCounts& c) noexcept {
    solved += c.solved;
    failed += c.failed;
    retried += c.retried;
    released += c.released;
    lost += c.lost;
  }
};

/// Tasks waiting to be claimed: unpinned plus every model's pinned ones.
long long backlog(const Figures& figures);

/// One line: this process's totals, each model's global rate over `window_seconds` against its
/// limit, leases held, backlog, and pinned tasks that no enabled model will answer (with the
/// model's name and why). Example:
///   solved=120 failed=2 in_flight=40 backlog=900 | m0 58/60rpm 4/5 inflight | ... | stuck: zz=3
///   (not configured)
std::string format_progress(const Totals& totals, const Figures& figures, double window_seconds);

}  // namespace llmlb::work
