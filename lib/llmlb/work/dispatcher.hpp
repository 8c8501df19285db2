// The calls in flight: claimed tasks become backend requests, responses become results. No
// database and no network: requests leave through a sink the caller provides, and the clock
// and the jitter are passed in, so the whole unit runs in tests with fakes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmlb/backend/outcome.hpp"
#include "llmlb/backend/protocol.hpp"
#include "llmlb/http/client.hpp"
#include "llmlb/work/lease.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/result.hpp"

namespace llmlb::work {

/// 429s seen for one model since the last write-back.
struct RateLimitNote {
  double retry_after_seconds = 0;  ///< the longest Retry-After seen (1 s when none was given)
  int count = 0;
};

/// Owns the tasks in flight and the results waiting to be written. Not thread-safe.
class Dispatcher {
 public:
  using Clock = std::chrono::steady_clock;
  /// Receives each request to send; it must accept it (the request is in flight from then on).
  using Sink = std::function<void(http::Request)>;
  /// Returns a uniform draw in [0, 1) for the retry jitter.
  using Jitter = std::function<double()>;

  /// Reads the backend URL, protocol, endpoint, batch size, prompt limit, request timeout and
  /// backoff from `options` (validated). `sink` and `jitter` must be callable for its lifetime.
  Dispatcher(const WorkOptions& options, Sink sink, Jitter jitter);

  /// Sends `tasks`, claimed at local time `claimed`: one call per task (single) or per group of
  /// up to batch_size tasks of one model (batch). A task still in flight here under an older
  /// lease (this worker was paused past its lease, and its own claim took the task back) is
  /// tracked under the new lease from now on; the old call's response, if it comes, is still
  /// written, under the old token, which the database then refuses (a 'lost_lease' call). A task
  /// that cannot be sent (blank prompt, prompt over max_prompt_bytes, unencodable) becomes a
  /// rejected result at once; one bad prompt in a batch sends the others one by one. `now` stamps
  /// the send offset.
  void dispatch(std::vector<ClaimedTask> tasks, Clock::time_point claimed, Clock::time_point now);

  /// Turns a response into results for its tasks (answer, retry with backoff, or failure) and
  /// notes 429s. A response whose tag is unknown (already abandoned) is ignored. A connection
  /// lost after the request went out (http::Response::reset_after_send) is a transient failure
  /// with error_class "reset_after_send": the backend may have read it, so it counts as a call.
  void on_response(const http::Response& response);

  /// Every task still in flight becomes an abandoned result (released, no attempt counted).
  /// The caller cancels the HTTP transfers. Returns how many tasks were abandoned.
  std::size_t abandon_all();

  /// The options it was made with.
  const WorkOptions& options() const noexcept { return opt_; }

  /// Tasks in flight (sent, no response yet).
  std::size_t in_flight() const noexcept { return inflight_.size(); }
  /// Tasks whose leases this worker must keep: in flight, or with a result not yet written.
  std::vector<std::int64_t> held_task_ids() const;

  /// Results waiting to be written, oldest first.
  const std::vector<TaskResult>& results() const noexcept { return results_; }
  /// Forgets the results, once written.
  void results_written() { results_.clear(); }

  /// 429s per model since rate_limits_written().
  const std::map<std::string, RateLimitNote>& rate_limits() const noexcept { return limits_; }
  /// Forgets the 429 notes, once written.
  void rate_limits_written() { limits_.clear(); }

  /// Issue 14. The last "never reached the backend" error since unreachable_written(), if any.
  const std::optional<std::string>& unreachable() const noexcept { return unreachable_; }
  void unreachable_written() { unreachable_.reset(); }
  /// True when an HTTP response arrived after this worker saw the backend unreachable: the
  /// outage it reported is over. Cleared by reachable_written().
  bool reachable_again() const noexcept { return reached_after_outage_; }
  void reachable_written() { reached_after_outage_ = false; }
  /// Per-model health notes since health_written().
  const std::map<std::string, ModelHealthNote>& health() const noexcept { return health_; }
  void health_written() { health_.clear(); }
  /// Issue 16: per-model capacity notes (answers and their latency, timeouts, 503/529) since
  /// each model's last report; empty unless options.overload_protection.
  const std::map<std::string, OverloadNote>& overload() const noexcept { return overload_; }
  /// The models whose note should be reported at `now`: it has 2 or more timeouts and
  /// 503/529s, or it has any call and its last report is `interval` old (or there was none).
  std::vector<std::string> overload_due(Clock::time_point now, Clock::duration interval) const;
  /// Forgets `model`'s note, reported at `now`.
  void overload_written(const std::string& model, Clock::time_point now);

  /// `model` is suspended: its results waiting to be written that would fail the task
  /// (permanent) are released instead, with no attempt counted. Returns how many.
  std::size_t release_failures_of(const std::string& model);

 private:
  struct InFlight {
    Lease lease;
    double send_offset_ms = 0;
    std::uint64_t tag = 0;         ///< the call that carries this lease
    std::size_t prompt_bytes = 0;  ///< issue 17: the prompt's size, for the token estimator
  };
  struct Call {
    std::vector<std::int64_t> task_ids;
    bool batch = false;
    /// Leases of tasks that a later claim took back while this call was in flight: the call's
    /// response is recorded under these (old) tokens.
    std::unordered_map<std::int64_t, InFlight> superseded;
  };

  void send_batch(std::vector<ClaimedTask>& batch, Clock::time_point claimed,
                  Clock::time_point now);
  void send(std::string path, std::string body, std::vector<ClaimedTask> tasks,
            Clock::time_point claimed, Clock::time_point now, bool batch);
  std::string url_for(const std::string& path) const;
  void on_unreachable(const http::Response& resp, const Call& call);
  void note_health(const std::string& model, const backend::Outcome& outcome);
  void note_overload(const Lease& lease, const backend::Outcome& outcome, double latency_ms);

  const WorkOptions& opt_;
  Sink sink_;
  Jitter jitter_;
  std::uint64_t next_tag_ = 1;
  std::unordered_map<std::int64_t, InFlight> inflight_;
  std::unordered_map<std::uint64_t, Call> calls_;
  std::vector<TaskResult> results_;
  std::map<std::string, RateLimitNote> limits_;
  std::optional<std::string> unreachable_;
  bool saw_unreachable_ = false;  // since the last reachable_written()
  bool reached_after_outage_ = false;
  std::map<std::string, ModelHealthNote> health_;
  std::map<std::string, OverloadNote> overload_;
  std::map<std::string, Clock::time_point> overload_reported_;
};

}  // namespace llmlb::work
