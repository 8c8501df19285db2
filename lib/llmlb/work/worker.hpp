// `llmlb work`: one event loop that claims tasks under the global per-model quotas, streams
// them to the backend one call each (or in /batch groups), and writes the answers back.
// The loop (worker.cpp) ties together the units that do the work: the Store (database),
// DbLink (outages), Dispatcher (calls in flight), ClaimSchedule (when to claim, for which
// models) and StopControl (deadlines and signals).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "llmlb/util/log.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/progress.hpp"
#include "llmlb/work/stop_control.hpp"
#include "llmlb/work/store.hpp"

namespace llmlb::work {

/// What a run did and why it stopped.
struct WorkSummary {
  Totals totals;
  long long unwritten = 0;  ///< results that could not be written (database gone)
  StopReason stop_reason = StopReason::none;
  double seconds = 0;
  int exit_code = 0;  ///< 0 ok, 1 runtime failure, 128+N forced by a second signal N
};

/// Opens the worker's store for the given worker id (e.g. db::open_worker_store); throws as
/// that does when the database cannot be reached.
using StoreFactory = std::function<std::unique_ptr<Store>(const std::string& worker_id)>;

/// Runs the worker loop until a stop condition: --until-empty, --max-runtime, --max-tasks,
/// SIGTERM/SIGINT (drain up to --term-grace, then release), or a database outage longer than
/// the retry timeout. Unfinished tasks are always released or left to expire; never lost.
class Worker {
 public:
  /// Validates nothing; call validate(options) first.
  Worker(WorkOptions options, util::Logger logger, StoreFactory open_store);
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
