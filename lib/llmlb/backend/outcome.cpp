#include "llmlb/backend/outcome.hpp"

#include <chrono>
#include <utility>

#include "llmlb/util/text.hpp"

namespace llmlb::backend {
namespace {

constexpr std::size_t kBodyChars = 200;

Outcome failed(const http::Response& response, OutcomeKind kind, std::string error,
               std::string error_class) {
  Outcome outcome;
  outcome.kind = kind;
  outcome.error = std::move(error);
  outcome.http_status = response.status;
  outcome.retry_after_s = response.retry_after_s;
  outcome.error_class = std::move(error_class);
  return outcome;
}

// "HTTP <status>" followed by the start of the body, if any, with secrets the body echoes
// (redacted before it is cut, so that no part of one survives the cut).
std::string http_error(const Protocol& protocol, const http::Response& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  std::string body = util::sanitize(redact_secrets(response.body, protocol.secrets),
                                    {util::Controls::one_line, kBodyChars});
  if (!body.empty()) {
    text += ": ";
    text += body;
  }
  return text;
}

// The outcome of a call that brought no usable 2xx response, or nullopt if it did.
std::optional<Outcome> call_failure(const Protocol& protocol, const http::Response& response) {
  if (!response.transport_ok) {
    const char* label = response.cancelled        ? "cancelled"
                        : response.too_large      ? "too_large"
                        : response.timed_out      ? "timeout"
                        : response.connect_failed ? "connect"
                                                  : "transport";
    std::string error =
        util::sanitize(response.transport_error, {util::Controls::one_line, kBodyChars});
    if (error.empty()) {
      error = "transport error";
    }
    Outcome outcome = failed(response, OutcomeKind::transient, std::move(error), label);
    outcome.http_status = 0;
    outcome.retry_after_s.reset();
    return outcome;
  }
  const long status = response.status;
  if (status >= 200 && status <= 299) {
    return std::nullopt;
  }
  if (status == 429) {
    Outcome outcome =
        failed(response, OutcomeKind::transient, http_error(protocol, response), "http_429");
    outcome.rate_limited = true;
    return outcome;
  }
  if (status >= 500 && status <= 599) {
    return failed(response, OutcomeKind::transient, http_error(protocol, response), "http_5xx");
  }
  // 408 Request Timeout, 409 Conflict and 425 Too Early say "not now", not "never".
  if (status == 408 || status == 409 || status == 425) {
    return failed(response, OutcomeKind::transient, http_error(protocol, response), "http_4xx");
  }
  if (status >= 400 && status <= 499) {
    return failed(response, OutcomeKind::permanent, http_error(protocol, response), "http_4xx");
  }
  return failed(response, OutcomeKind::transient, http_error(protocol, response), "http_other");
}

Outcome bad_body(const http::Response& response, const std::string& reason) {
  return failed(response, OutcomeKind::transient,
                "HTTP " + std::to_string(response.status) + " with a bad body: " + reason,
                "bad_body");
}

Outcome answered(const http::Response& response, std::string answer) {
  Outcome outcome;
  outcome.kind = OutcomeKind::ok;
  outcome.answer = std::move(answer);
  outcome.http_status = response.status;
  outcome.retry_after_s = response.retry_after_s;
  outcome.error_class = "ok";
  return outcome;
}

// What every outcome goes through before it leaves the classifier: the Retry-After is cut to
// the protocol's maximum (a huge one would block a model for years), and the error text is
// rid of secrets.
Outcome finished(const Protocol& protocol, Outcome outcome) {
  if (outcome.retry_after_s) {
    const double cap = std::chrono::duration<double>(protocol.max_retry_after).count();
    if (!(*outcome.retry_after_s <= cap)) {  // also NaN
      outcome.retry_after_s = cap;
    }
  }
  if (!outcome.error.empty()) {
    outcome.error = redact_secrets(std::move(outcome.error), protocol.secrets);
  }
  return outcome;
}

Outcome empty_answer(const http::Response& response, bool batch) {
  return batch
             ? failed(response, OutcomeKind::transient, "backend error: empty answer", "item_error")
             : bad_body(response, "empty answer");
}

Outcome classify_single_raw(const Protocol& protocol, const http::Response& response) {
  if (auto failure = call_failure(protocol, response)) {
    if (failure->http_status != 0 && !response.body.empty()) {
      failure->usage = decode_usage(protocol, response.body);  // what the failed call took
    }
    return std::move(*failure);
  }
  Usage usage;
  auto answer = decode_single(protocol, response.body, &usage);
  Outcome outcome = !answer ? bad_body(response, answer.error())
                    : !protocol.accept_empty_answers && is_blank(answer.value())
                        ? empty_answer(response, false)
                        : answered(response, std::move(answer).value());
  outcome.usage = usage;
  return outcome;
}

}  // namespace

Outcome classify_single(const Protocol& protocol, const http::Response& response) {
  return finished(protocol, classify_single_raw(protocol, response));
}

std::vector<Outcome> classify_batch(const Protocol& protocol, const http::Response& response,
                                    std::size_t n) {
  if (n == 0) {
    return {};
  }
  if (auto failure = call_failure(protocol, response)) {
    return std::vector<Outcome>(n, finished(protocol, std::move(*failure)));
  }
  auto items = decode_batch(protocol, response.body, n);
  if (!items) {
    return std::vector<Outcome>(n, finished(protocol, bad_body(response, items.error())));
  }
  std::vector<Outcome> outcomes;
  outcomes.reserve(n);
  for (ItemResult& item : items.value()) {
    if (item.ok && !protocol.accept_empty_answers && is_blank(item.text)) {
      outcomes.push_back(finished(protocol, empty_answer(response, true)));
    } else if (item.ok) {
      outcomes.push_back(finished(protocol, answered(response, std::move(item.text))));
    } else {
      outcomes.push_back(finished(protocol, failed(response, OutcomeKind::transient,
                                                   "backend error: " + item.text, "item_error")));
    }
    outcomes.back().usage = item.usage;
  }
  return outcomes;
}

}  // namespace llmlb::backend
