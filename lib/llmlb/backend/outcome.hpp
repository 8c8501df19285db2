// Turns an HTTP response from the Models Backend into what the worker does with a task: store
// the answer, retry later, or give up.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "llmlb/backend/protocol.hpp"
#include "llmlb/http/client.hpp"

namespace llmlb::backend {

/// What to do with a task after one backend call.
enum class OutcomeKind {
  ok,         ///< an answer arrived: store it
  transient,  ///< failed, but the same call may succeed later: retry
  permanent,  ///< the backend rejected the request (HTTP 4xx other than 429): do not retry
};

/// The classification of one task's backend call.
struct Outcome {
  OutcomeKind kind = OutcomeKind::transient;
  std::string answer;  ///< the answer when kind == ok, else empty
  /// When kind != ok: one line for tasks.last_error, valid UTF-8 without NUL, e.g.
  /// "HTTP 503: <first 200 characters of the body>", "timed out after 180000 ms". Else empty.
  std::string error;
  long http_status = 0;                 ///< HTTP status; 0 when no HTTP response arrived
  bool rate_limited = false;            ///< HTTP 429: the backend asked us to slow down
  std::optional<double> retry_after_s;  ///< the response's Retry-After, whatever the status
  /// Short label for logs and metrics, one of: "ok", "http_429", "http_5xx", "http_4xx",
  /// "http_other" (1xx/3xx or a status outside 100-599), "timeout", "connect" (refused,
  /// unreachable, DNS), "too_large", "cancelled", "transport" (any other transport failure),
  /// "bad_body" (2xx whose body is not a usable answer), "item_error" (a batch entry that
  /// carried an error or an unusable answer).
  std::string error_class;
  /// Issue 17: the tokens the backend reported for this task (Protocol's usage paths), in an
  /// answer, a batch entry, or the body of a single call's HTTP error; unset when not reported.
  Usage usage;
};

/// Classifies the response to a single call (Protocol::single_path). Rules: transport
/// failures (refused, reset, timeout, too large, cancelled) → transient; 429 → transient with
/// rate_limited; 5xx, 1xx, 3xx, 408, 409, 425 → transient; other 4xx → permanent; 2xx → ok with
/// the decoded answer, or transient "bad_body" if the body is not JSON, has no string answer,
/// the answer holds NUL or invalid UTF-8, or (unless Protocol::accept_empty_answers) the answer
/// is empty or blank ("empty answer").
/// Every outcome's retry_after_s is at most Protocol::max_retry_after, and its error holds none
/// of Protocol::secrets, no "Bearer <token>" and no Authorization value (redact_secrets).
/// Never throws but std::bad_alloc.
Outcome classify_single(const Protocol& protocol, const http::Response& response);

/// Classifies the response to a batch call of `n` requests (Protocol::batch_path); returns n
/// outcomes in request order. A failure of the whole call (as in classify_single, or a 2xx
/// whose body is not a results array of length n) gives n copies of the same outcome; a 2xx
/// with results gives ok per answered entry and transient "item_error" per entry that carried
/// an error ("backend error: <message>") or an unusable answer (an empty or blank one is
/// "backend error: empty answer" unless accepted). Retry-After and error texts are bounded
/// and redacted as in classify_single. n == 0 gives an empty vector.
std::vector<Outcome> classify_batch(const Protocol& protocol, const http::Response& response,
                                    std::size_t n);

}  // namespace llmlb::backend
