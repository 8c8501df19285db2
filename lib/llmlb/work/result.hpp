// The outcome of one task, as the worker hands it to the write-back (llmlb.complete()).
#pragma once

#include <string>
#include <vector>

#include "llmlb/work/lease.hpp"
#include "llmlb/work/options.hpp"

namespace llmlb::work {

/// What the write-back does with a task.
enum class ResultKind {
  ok,         ///< store the answer: solved
  transient,  ///< retry after retry_seconds, or fail once max attempts are reached
  permanent,  ///< fail now
  release,    ///< hand the task back unchanged; no attempt counted
};

/// What the call log records about the call that carried a task.
struct CallFacts {
  Endpoint endpoint = Endpoint::single;
  double send_offset_ms = 0;  ///< local time from the claim to the send
  double latency_ms = 0;      ///< send to completion
  long http_status = 0;       ///< 0 when no HTTP response arrived
  std::string error_class;    ///< backend::Outcome::error_class, "abandoned", "bad_prompt", ""
  bool sent = true;           ///< false: the backend never saw it, so it is not a call
  /// Issue 17: the tokens the backend reported (unset: not reported), and the UTF-8 bytes of the
  /// prompt sent and of the answer (ok only), for the token estimator; llmlb.complete()
  /// settles the call's token reservation from them.
  backend::Usage usage;
  std::size_t prompt_bytes = 0;
  std::size_t answer_bytes = 0;
};

/// One task's result. Built only through the named constructors, which keep the fields
/// consistent with the kind (an answer only with ok, an error only with transient/permanent).
struct TaskResult {
  Lease lease;
  ResultKind kind = ResultKind::release;
  std::string answer;        ///< with ok
  std::string error;         ///< with transient and permanent: one line for tasks.last_error
  double retry_seconds = 0;  ///< with transient: wait before the next attempt
  CallFacts call;

  /// The backend answered.
  static TaskResult solved(Lease lease, std::string answer, CallFacts call);
  /// The call failed in a way that may pass; retry after `retry_seconds` (>= 0).
  static TaskResult retry(Lease lease, std::string error, double retry_seconds, CallFacts call);
  /// The backend rejected the task for good.
  static TaskResult failed(Lease lease, std::string error, CallFacts call);
  /// The task was never sent (empty, oversized or unencodable prompt): fails, not a call.
  static TaskResult rejected(Lease lease, std::string error);
  /// The call was given up while in flight (drain over, forced stop): released, no attempt
  /// counted, logged as an abandoned call.
  static TaskResult abandoned(Lease lease, CallFacts call);
  /// The backend could not be reached (refused, DNS, connect timeout): released, no attempt
  /// counted, not a call (error_class "unreachable").
  static TaskResult unreachable(Lease lease, CallFacts call);
  /// The call reached a model that is suspended (or is being suspended: HTTP 404/401/403, or
  /// identical errors in a row): released, no attempt counted, logged as a call.
  static TaskResult suspended(Lease lease, CallFacts call);
};

/// What one model's calls since the last write-back said about the model itself (issue 14),
/// for llmlb.note_model_health(). In arrival order: an answer clears what came before it.
struct ModelHealthNote {
  bool ok = false;     ///< an answer arrived
  std::string hard;    ///< a model-level error (HTTP 404, 401, 403): suspend; else empty
  bool reset = false;  ///< the streak below starts afresh (an answer or another error first)
  std::string sig;     ///< the error of the streak of identical permanent errors
  int streak = 0;      ///< identical permanent errors in a row at the end
};

/// What one model's calls since its last report said about its capacity (issue 16), for
/// llmlb.note_overload().
struct OverloadNote {
  int ok = 0;  ///< answers
  /// Latency of the answers and of the timed-out calls (their time to the timeout), at most
  /// kMaxSamples of them.
  std::vector<double> latency_ms;
  int timeouts = 0;               ///< calls that timed out
  int overloaded = 0;             ///< calls answered 503 or 529
  std::string latest_claimed_at;  ///< latest claim time of the calls noted (database text)
  static constexpr std::size_t kMaxSamples = 512;

  /// True when the note carries 2 or more timeouts and 503/529s (to be reported at once).
  bool urgent() const noexcept { return timeouts + overloaded >= 2; }
  /// The median of latency_ms; 0 when there is none.
  double median_latency_ms() const;
};

/// What one write-back did; `lost` counts results whose lease had passed to another worker,
/// `superseded` results dropped because their task changed since the claim (prompt edited, or
/// no longer unsolved).
struct WriteCounts {
  int solved = 0, failed = 0, retried = 0, released = 0, lost = 0, superseded = 0;
};

}  // namespace llmlb::work
