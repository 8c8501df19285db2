// `llmlb work`: one event loop that claims tasks under the global per-model quotas, streams
// them to the backend one call each (or in /batch groups), and writes the answers back.
#pragma once

#include <memory>
#include <string>

#include "llmlb/util/log.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/progress.hpp"

namespace llmlb::work {

/// What a run did and why it stopped.
struct WorkSummary {
  Totals totals;
  long long unwritten = 0;  ///< results that could not be written (database gone)
  std::string stop_reason;  ///< until-empty, max-runtime, max-tasks, signal, database
  double seconds = 0;
  int exit_code = 0;  ///< 0 ok, 1 runtime failure, 128+N forced by a second signal N
};

/// Runs the worker loop until a stop condition: --until-empty, --max-runtime, --max-tasks,
/// SIGTERM/SIGINT (drain up to --term-grace, then release), or a database outage longer than
/// the retry timeout. Unfinished tasks are always released or left to expire; never lost.
class Worker {
 public:
  /// Validates nothing; call validate(options) first.
  Worker(WorkOptions options, util::Logger logger);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Runs to the end. Throws DatabaseError if the database cannot be reached at start, and
  /// UsageError if its schema is not migrated. Later database outages are retried and, past
  /// the timeout, reported in the summary with exit code 1.
  WorkSummary run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A worker id unique across hosts and time: "<host>:<pid>:<random hex>".
std::string make_worker_id();

}  // namespace llmlb::work
