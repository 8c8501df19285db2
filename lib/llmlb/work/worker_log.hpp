// What `llmlb work` tells the operator: start, stop, 429s, lost leases, progress and the
// summary, each as one log line (text or JSON) with its fields. Also the two process-level
// chores of a worker's start.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmlb/util/log.hpp"
#include "llmlb/work/dispatcher.hpp"
#include "llmlb/work/live_table.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/progress.hpp"
#include "llmlb/work/result.hpp"
#include "llmlb/work/stop_control.hpp"

namespace llmlb::work {

struct WorkSummary;

/// The worker's log lines. Messages never contain a secret (the backend headers are not
/// printed). Not thread-safe.
class WorkerLog {
 public:
  /// With `live_table`, progress() redraws a per-model table on stderr (a terminal) instead of
  /// writing progress lines.
  WorkerLog(util::Logger logger, bool live_table);

  /// The underlying logger, for units that log on their own (DbLink).
  const util::Logger& logger() const noexcept { return log_; }

  /// "worker <id> started: backend <url>, <n> max in flight[, models a,b]".
  void started(const std::string& worker_id, const WorkOptions& options) const;
  /// "stopping (<reason>): no new claims; <n> in flight".
  void stopping(StopReason reason, std::size_t in_flight) const;
  /// One warning per model that answered 429.
  void rate_limited(const std::map<std::string, RateLimitNote>& limits) const;
  /// A warning when `lost` > 0 results lost their lease to another worker.
  void lost_leases(int lost) const;
  /// A warning when `superseded` > 0 answers were dropped because their task changed.
  void superseded(int superseded) const;
  /// Calls still in flight are given up: at the end of the drain, or (`forced`) at a second
  /// signal.
  void abandoning(std::size_t in_flight, bool forced) const;
  /// The periodic progress line, or a redraw of the live table.
  void progress(const Totals& totals, const Figures& figures, double window_seconds);
  /// The final summary line and, when results could not be written, an error line about them
  /// (`unwritten` are those results).
  void summary(const WorkSummary& summary, const std::vector<TaskResult>& unwritten) const;

 private:
  util::Logger log_;
  std::unique_ptr<LiveTable> live_;
};

/// Raises the soft open-file limit to the hard one: each call in flight holds a socket.
void raise_file_limit() noexcept;

}  // namespace llmlb::work
