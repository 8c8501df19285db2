// The live per-model table `llmlb work` redraws in place when stderr is a terminal.
#pragma once

#include <string>

#include "llmlb/work/progress.hpp"

namespace llmlb::work {

/// Renders the table (pure; unit-tested): a header, one row per model with its rate against
/// its limit, leases against max in flight, and backlog, then a totals row.
std::string render_table(const Totals& totals, const Figures& figures, double window_seconds);

/// Redraws render_table() in place on a terminal with ANSI cursor movement.
class LiveTable {
 public:
  /// Draws to `fd`, which the caller keeps open.
  explicit LiveTable(int fd) : fd_(fd) {}
  /// Replaces the previous drawing with the new table.
  void draw(const Totals& totals, const Figures& figures, double window_seconds);
  /// Leaves the last drawing on screen and moves below it.
  void finish();

 private:
  int fd_;
  int lines_ = 0;
};

}  // namespace llmlb::work
