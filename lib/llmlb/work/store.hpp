// The worker's side of the database: claim, complete, renew, heartbeat, and the figures for
// progress lines. Every quota and lease computation runs in SQL (sql/functions/) on the
// database clock; this class only ships parameters and rows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace llmlb::work {

/// One task claimed for this worker.
struct ClaimedTask {
  std::int64_t id = 0;
  std::int64_t token = 0;  ///< lease token: guards every later write of this task
  std::string model;       ///< the model it was claimed for
  std::string prompt;
  int attempts = 0;        ///< calls made before this claim
  std::string claimed_at;  ///< database time of the claim, as PostgreSQL text
};

/// What limited one model in a claim.
struct ModelState {
  std::string model;
  std::string note;         ///< rate, inflight, cooldown, idle, full, more
  double wait_seconds = 0;  ///< until the next token (rate) or the cooldown's end
};

struct ClaimResult {
  std::vector<ClaimedTask> tasks;
  std::vector<ModelState> models;
};

/// The outcome of one task, to be written back. JSON-encoded for llmlb.complete().
struct TaskResult {
  std::int64_t id = 0;
  std::int64_t token = 0;
  std::string model;
  std::string outcome;  ///< ok, transient, permanent, release
  std::string answer;   ///< with ok
  std::string error;    ///< with transient / permanent
  std::string error_class;
  long http_status = 0;
  std::string endpoint = "single";
  std::string claimed_at;
  double send_offset_ms = 0;  ///< local time from claim to send
  double latency_ms = 0;
  double retry_seconds = 0;  ///< with transient: wait before the next attempt
  bool sent = true;          ///< false: the backend never saw it (not logged as a call)
};

/// Counts returned by complete().
struct WriteCounts {
  int solved = 0, failed = 0, retried = 0, released = 0, lost = 0;
};

/// Per-model figures for a progress line.
struct ModelFigures {
  std::string model;
  bool configured = false, enabled = false;
  double rpm = 0;
  int max_inflight = 0;
  long long sent_last_window = 0;  ///< calls sent (finished or in flight) in the window
  long long waiting = 0;           ///< unsolved tasks pinned to this model, not leased
  long long leased = 0;            ///< leases held on this model (all processes)
};

struct Figures {
  long long unpinned_waiting = 0;
  std::vector<ModelFigures> models;  ///< configured models, then unconfigured pinned names
};

/// A PostgreSQL session for one worker. Not thread-safe. Every method throws the libpqxx
/// exception it got (pqxx::broken_connection when the connection dropped); the worker decides
/// whether to reconnect.
class Store {
 public:
  /// Connects (throws DatabaseError / UsageError like db::connect) and prepares statements.
  Store(std::string conninfo, std::string worker_id);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Drops the connection and opens a new one. Throws DatabaseError when that fails.
  void reconnect();

  /// Claims up to `want` tasks for the given models (all enabled ones when empty), holding each
  /// lease for `lease_seconds`. With `sweep`, first returns expired leases and due retries to
  /// the pool if no process did in the last 250 ms (llmlb.sweep_if_due()); a process's first
  /// claim skips that, to reach the backend sooner, and calls sweep_if_due() itself later.
  ClaimResult claim(int want, const std::vector<std::string>& models, double lease_seconds,
                    bool sweep);

  /// Runs llmlb.sweep_if_due(): returns how many tasks it handed back (0 when another process
  /// swept in the last 250 ms).
  int sweep_if_due();

  /// Writes results in one statement; tasks whose lease this worker lost are counted as lost.
  WriteCounts complete(const std::vector<TaskResult>& results, int max_attempts);

  /// Starts or extends a model's shared 429 cooldown.
  void note_rate_limited(const std::string& model, double retry_after_seconds, int count);

  /// Extends this worker's leases on `ids`; returns how many it still holds.
  int renew(const std::vector<std::int64_t>& ids, double lease_seconds);

  /// Upserts this worker's row in llmlb.workers; `stopped` marks it as ended.
  void heartbeat(int in_flight, long long solved, long long failed, bool stopped);

  /// True while an unsolved task remains that these models can answer: waiting, waiting for a
  /// retry, or leased by another worker (which may die, so its lease can come back). Used by
  /// --until-empty, which thus exits only when the served backlog is really empty.
  bool has_pending_work(const std::vector<std::string>& models);

  /// Backlog, rate over the last `window_seconds` and leases per model.
  Figures figures(double window_seconds);

  /// Throws UsageError unless the schema is current (db::require_current_schema).
  void require_current_schema();

 private:
  void prepare();

  std::string conninfo_;
  std::string worker_id_;
  std::unique_ptr<pqxx::connection> conn_;
};

/// A PostgreSQL text[] literal for `items` (NULL when empty, meaning "all").
std::optional<std::string> text_array(const std::vector<std::string>& items);

/// Encodes results as the JSON array llmlb.complete() reads.
std::string encode_results(const std::vector<TaskResult>& results);

}  // namespace llmlb::work
