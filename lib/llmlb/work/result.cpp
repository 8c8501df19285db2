#include "llmlb/work/result.hpp"

#include <algorithm>
#include <utility>

namespace llmlb::work {
namespace {

/// A release (no attempt counted) carrying `call`, which the call log records when `sent`.
TaskResult released(Lease lease, CallFacts call, bool sent) {
  TaskResult r;
  r.lease = std::move(lease);
  r.kind = ResultKind::release;
  call.sent = sent;
  r.call = std::move(call);
  return r;
}

}  // namespace

TaskResult TaskResult::solved(Lease lease, std::string answer, CallFacts call) {
  TaskResult r;
  r.lease = std::move(lease);
  r.kind = ResultKind::ok;
  r.answer = std::move(answer);
  r.call = std::move(call);
  return r;
}

TaskResult TaskResult::retry(Lease lease, std::string error, double retry_seconds, CallFacts call) {
  TaskResult r;
  r.lease = std::move(lease);
  r.kind = ResultKind::transient;
  r.error = std::move(error);
  r.retry_seconds = std::max(0.0, retry_seconds);
  r.call = std::move(call);
  return r;
}

TaskResult TaskResult::failed(Lease lease, std::string error, CallFacts call) {
  TaskResult r;
  r.lease = std::move(lease);
  r.kind = ResultKind::permanent;
  r.error = std::move(error);
  r.call = std::move(call);
  return r;
}

TaskResult TaskResult::rejected(Lease lease, std::string error) {
  CallFacts call;
  call.error_class = "bad_prompt";
  call.sent = false;
  return failed(std::move(lease), std::move(error), std::move(call));
}

TaskResult TaskResult::abandoned(Lease lease, CallFacts call) {
  call.error_class = "abandoned";
  return released(std::move(lease), std::move(call), true);
}

TaskResult TaskResult::unreachable(Lease lease, CallFacts call) {
  call.error_class = "unreachable";
  return released(std::move(lease), std::move(call), false);
}

TaskResult TaskResult::suspended(Lease lease, CallFacts call) {
  return released(std::move(lease), std::move(call), true);
}

}  // namespace llmlb::work

namespace llmlb::work {

double OverloadNote::median_latency_ms() const {
  if (latency_ms.empty()) {
    return 0;
  }
  std::vector<double> v = latency_ms;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2 == 1) {
    return *mid;
  }
  const double upper = *mid;
  const double lower = *std::max_element(v.begin(), mid);
  return (lower + upper) / 2;
}

}  // namespace llmlb::work
