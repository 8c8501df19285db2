// The worker's view of the database: claim, write back, renew, heartbeat, and the figures for
// progress lines. An interface, so that the worker's units can be tested without PostgreSQL;
// the real one is db::WorkerStore (lib/llmlb/db/worker_store.hpp), which runs the SQL functions
// in sql/functions/ where every quota and lease computation happens on the database clock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "llmlb/db/model_row.hpp"
#include "llmlb/work/lease.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/result.hpp"

namespace llmlb::work {

/// Backlog and per-model figures for a progress line.
struct Figures {
  long long unpinned_waiting = 0;
  /// db::read_model_rows() with include_unconfigured: configured models in preference order,
  /// then names that waiting tasks are pinned to but that have no configuration.
  std::vector<db::ModelRow> models;
};

/// A claim's parameters.
struct ClaimRequest {
  int want = 0;                          ///< most tasks to claim, >= 1
  std::vector<std::string> models;       ///< the models to cover; empty: every enabled model
  double lease_seconds = 60;             ///< lease length, > 0
  bool sweep = true;                     ///< first hand back expired leases and due retries, if due
  Endpoint endpoint = Endpoint::single;  ///< how the tasks will be sent (for the call log)
};

/// This worker's row in llmlb.workers.
struct Heartbeat {
  int in_flight = 0;
  long long solved = 0, failed = 0;
  bool stopped = false;  ///< marks the worker as ended
};

/// What llmlb.note_model_health() said about a model (issue 14).
struct ModelHealth {
  bool suspended = false;  ///< suspended now
  bool changed = false;    ///< suspended or resumed by this report
  std::string reason;      ///< why it is suspended
};

/// What llmlb.note_overload() said about a model (issue 16).
struct OverloadState {
  int effective = 0;     ///< calls in flight the model may have now, all processes
  int configured = 0;    ///< its max_inflight
  bool lowered = false;  ///< this report lowered it
  std::string reason;    ///< why it is below the configured limit; empty when it is not
};

/// One worker's database session. Not thread-safe. Every method throws DatabaseUnavailable
/// when the connection is lost or the server is restarting (the caller may reconnect() and
/// try again), and DatabaseError for any other failure.
class Store {
 public:
  virtual ~Store() = default;

  /// Drops the connection and opens a new one. Throws DatabaseError when that fails.
  virtual void reconnect() = 0;

  /// Throws UsageError unless the schema is current (db::require_current_schema).
  virtual void require_current_schema() = 0;

  /// Claims tasks under the models' quotas (llmlb.claim()): at most `request.want` tasks, and
  /// one ModelState per model considered.
  virtual ClaimResult claim(const ClaimRequest& request) = 0;

  /// Hands back expired leases and due retries unless another process did in the last 250 ms;
  /// returns how many tasks it handed back.
  virtual int sweep_if_due() = 0;

  /// Writes `results` in one statement (llmlb.complete()); results whose lease this worker lost
  /// change nothing and are counted as lost.
  virtual WriteCounts complete(const std::vector<TaskResult>& results, int max_attempts) = 0;

  /// Starts or extends `model`'s shared 429 cooldown; `count` 429s were seen.
  virtual void note_rate_limited(const std::string& model, double retry_after_seconds,
                                 int count) = 0;

  /// Issue 14. The backend could not be reached: starts or extends the shared backoff of the
  /// whole backend (llmlb.note_unreachable()); returns the seconds left of it.
  virtual double note_unreachable(const std::string& /*error*/) { return 0; }

  /// Each model's expected call duration in seconds: the 95th percentile of the latency of its
  /// answered calls sent in the last `window_seconds`, from the call log shared by all workers;
  /// models with fewer than 5 such calls are left out.
  virtual std::map<std::string, double> latency_p95(double /*window_seconds*/) { return {}; }
  /// A response arrived after an outage: ends it (llmlb.note_reachable()); returns whether one
  /// was recorded.
  virtual bool note_reachable() { return false; }
  /// Reports what the calls of `model` said about the model (llmlb.note_model_health()).
  virtual ModelHealth note_model_health(const std::string& /*model*/,
                                        const ModelHealthNote& /*note*/) {
    return {};
  }

  /// Issue 16. Reports what the calls of `model` said about its capacity
  /// (llmlb.note_overload()); `timeout_ms` is the request timeout, `latency_ratio` as in
  /// WorkOptions::overload_latency_ratio.
  virtual OverloadState note_overload(const std::string& /*model*/, const OverloadNote& /*note*/,
                                      double /*timeout_ms*/, double /*latency_ratio*/) {
    return {};
  }

  /// Extends this worker's leases on `task_ids` by `lease_seconds`; returns how many it still
  /// holds.
  virtual int renew(const std::vector<std::int64_t>& task_ids, double lease_seconds) = 0;

  /// Upserts this worker's row in llmlb.workers.
  virtual void heartbeat(const Heartbeat& beat) = 0;

  /// True while an unsolved task remains that `models` (empty: every enabled model) can answer:
  /// waiting, waiting for a retry, or leased by another worker (whose lease may come back).
  /// Tasks only a suspended model could answer do not count (issue 14).
  virtual bool has_pending_work(const std::vector<std::string>& models) = 0;

  /// Backlog, calls sent in the last `window_seconds`, and live leases per model.
  virtual Figures figures(double window_seconds) = 0;
};

}  // namespace llmlb::work
