#include "llmlb/backend/outcome.hpp"

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

// "HTTP <status>" followed by the start of the body, if any.
std::string http_error(const http::Response& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  std::string body = util::sanitize(response.body, {util::Controls::one_line, kBodyChars});
  if (!body.empty()) {
    text += ": ";
    text += body;
  }
  return text;
}

// The outcome of a call that brought no usable 2xx response, or nullopt if it did.
std::optional<Outcome> call_failure(const http::Response& response) {
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
    Outcome outcome = failed(response, OutcomeKind::transient, http_error(response), "http_429");
    outcome.rate_limited = true;
    return outcome;
  }
  if (status >= 500 && status <= 599) {
    return failed(response, OutcomeKind::transient, http_error(response), "http_5xx");
  }
  if (status >= 400 && status <= 499) {
    return failed(response, OutcomeKind::permanent, http_error(response), "http_4xx");
  }
  return failed(response, OutcomeKind::transient, http_error(response), "http_other");
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

}  // namespace

Outcome classify_single(const Protocol& protocol, const http::Response& response) {
  if (auto failure = call_failure(response)) {
    return std::move(*failure);
  }
  auto answer = decode_single(protocol, response.body);
  if (!answer) {
    return bad_body(response, answer.error());
  }
  return answered(response, std::move(answer).value());
}

std::vector<Outcome> classify_batch(const Protocol& protocol, const http::Response& response,
                                    std::size_t n) {
  if (n == 0) {
    return {};
  }
  if (auto failure = call_failure(response)) {
    return std::vector<Outcome>(n, *failure);
  }
  auto items = decode_batch(protocol, response.body, n);
  if (!items) {
    return std::vector<Outcome>(n, bad_body(response, items.error()));
  }
  std::vector<Outcome> outcomes;
  outcomes.reserve(n);
  for (ItemResult& item : items.value()) {
    if (item.ok) {
      outcomes.push_back(answered(response, std::move(item.text)));
    } else {
      outcomes.push_back(
          failed(response, OutcomeKind::transient, "backend error: " + item.text, "item_error"));
    }
  }
  return outcomes;
}

}  // namespace llmlb::backend
