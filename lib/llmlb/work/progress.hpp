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

/// The most calls the limits allow `m` in any window of `window_seconds`: rpm x W / 60 + burst,
/// rounded down (the guarantee the quotas keep).
long long allowed_in_window(const db::ModelRow& m, double window_seconds);

/// One line: this process's totals; for each model the calls all processes sent in the last
/// `window_seconds` against allowed_in_window(), and live leases against max_inflight; the
/// backlog; pinned tasks that no enabled model will answer (with the model's name and why).
/// Example:
///   solved=120 failed=2 in_flight=40 backlog=900 | m0 108/110 calls/10s 4/5 inflight | ...
///   | unsolvable pinned: zz=3 (not configured)
std::string format_progress(const Totals& totals, const Figures& figures, double window_seconds);

}  // namespace llmlb::work
