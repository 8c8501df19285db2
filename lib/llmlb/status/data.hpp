// The data behind `llmlb status`: one consistent snapshot of the backlog, each model's limits and
// recent traffic, the live workers, and the ETA. Filled by status::load() (load.hpp), rendered by
// the pure functions of render.hpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "llmlb/db/model_row.hpp"

namespace llmlb::status {

/// The time windows status looks back over (seconds).
struct StatusWindows {
  double rate_seconds = 60;       ///< "sent in the last minute"
  double outcome_seconds = 300;   ///< success/error rates and latency percentiles
  double heartbeat_seconds = 30;  ///< a worker is live if it beat within this
};

/// Task counts over public.tasks.
struct Backlog {
  /// Waiting = unsolved and not in flight (a task whose lease expired is waiting again: the next
  /// claim's sweep returns it to the pool).
  long long unpinned_waiting = 0;                   ///< waiting, tasks.model IS NULL
  std::map<std::string, long long> pinned_waiting;  ///< waiting, by tasks.model
  long long retry_waiting = 0;   ///< of the waiting ones: held back until their retry_at
  long long expired_leases = 0;  ///< of the waiting ones: lease expired, owner gone
  long long in_flight = 0;       ///< leased, lease not expired
  long long solved = 0;
  long long failed = 0;
  long long cancelled = 0;  ///< status cancelled (llmlb cancel)

  /// Every waiting task: unpinned + pinned.
  long long waiting() const;
};

/// Calls of one model in the outcome window, by llmlb.calls.outcome.
struct CallCounts {
  long long ok = 0, transient = 0, permanent = 0, other = 0;  ///< other: abandoned, lost_lease
  long long abandoned = 0;  ///< of `other`: given up in flight at a drain's end or a forced stop
  long long total() const { return ok + transient + permanent + other; }
};

/// One model: the shared per-model row (configured limits, quota state, in flight, waiting,
/// sent in the rate window; see db/model_row.hpp), plus the outcomes and latencies of its calls
/// in the outcome window. A name that tasks are pinned to but that has no configuration has
/// configured = false and zero limits.
struct ModelStatus : db::ModelRow {
  CallCounts calls;                               ///< in the outcome window
  std::optional<double> p50_ms, p95_ms, mean_ms;  ///< latency of ok calls, outcome window
};

/// One live worker, from llmlb.workers.
struct WorkerStatus {
  std::string id, host, version;
  long long pid = 0;
  long long in_flight = 0, solved = 0, failed = 0;
  double uptime_seconds = 0;
  double heartbeat_age_seconds = 0;
};

/// Why there is or is not an ETA.
enum class EtaState {
  ok,                ///< seconds is set
  empty,             ///< nothing is waiting (seconds = 0)
  no_enabled_model,  ///< work waits but no model is enabled
  no_capacity,       ///< enabled models exist but none can take the waiting work
  cooldown,          ///< every model that could take the waiting work is in a 429 cooldown
};

/// Time to drain the waiting work at the current limits (see eta.hpp for the model).
struct Eta {
  EtaState state = EtaState::empty;
  std::optional<double> seconds;  ///< with ok (and empty: 0); never while a cooldown blocks
  std::optional<double> resumes_in_seconds;  ///< with cooldown: until the first one ends
  long long stuck_tasks = 0;  ///< pinned to models that are disabled or not configured
  std::vector<std::string> stuck_models;
};

/// The whole backend's reachability (issue 14, llmlb.backend_state).
struct BackendState {
  /// Set while workers find the backend unreachable: since when (ISO 8601 UTC).
  std::optional<std::string> unreachable_since;
  double unreachable_seconds = 0;  ///< how long it has been unreachable
  double retry_in_seconds = 0;     ///< until the workers try it again
  std::string last_error;
};

/// Everything `llmlb status` shows.
struct StatusSnapshot {
  std::string now;  ///< database clock at the snapshot, ISO 8601
  StatusWindows windows;
  Backlog backlog;
  std::vector<ModelStatus> models;  ///< configured by preference, then unconfigured by name
  std::vector<WorkerStatus> workers;
  long long stale_workers = 0;  ///< not stopped, but silent longer than the heartbeat window
  Eta eta;
  BackendState backend;  ///< issue 14

  /// True when the database has no tasks at all and no models: nothing to show yet.
  bool empty() const;
};

/// The text of an EtaState in JSON and metrics: "ok", "empty", "no_enabled_model",
/// "no_capacity", "cooldown".
const char* to_string(EtaState state);

}  // namespace llmlb::status
