#include "llmlb/work/stop_control.hpp"

#include <algorithm>

namespace llmlb::work {

std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::none:
      return "";
    case StopReason::until_empty:
      return "until-empty";
    case StopReason::max_runtime:
      return "max-runtime";
    case StopReason::max_tasks:
      return "max-tasks";
    case StopReason::signal:
      return "signal";
    case StopReason::database:
      return "database";
  }
  return "";
}

StopControl::StopControl(Clock::time_point started, std::optional<Millis> max_runtime, Millis drain,
                         Millis term_grace)
    : drain_(drain), term_grace_(term_grace) {
  if (max_runtime) {
    runtime_end_ = started + *max_runtime;
  }
}

bool StopControl::begin(StopReason reason, std::optional<Clock::time_point> deadline) {
  if (stopping()) {
    return false;
  }
  reason_ = reason;
  deadline_ = deadline;
  return true;
}

bool StopControl::tick(Clock::time_point now) {
  if (!runtime_end_ || now < *runtime_end_) {
    return false;
  }
  return begin(StopReason::max_runtime, now + drain_);
}

bool StopControl::request(StopReason reason, Clock::time_point /*now*/) {
  return begin(reason, std::nullopt);
}

bool StopControl::on_signals(int count, int signo, Clock::time_point now) {
  if (count <= 0) {
    return false;
  }
  if (signalled_ || count > 1) {
    // A second signal: whatever the stop was for, it is now a forced stop by signal.
    const bool began = !stopping();
    forced_signal_ = signo;
    reason_ = StopReason::signal;
    deadline_ = now;
    return began;
  }
  signalled_ = true;
  const auto grace_end = now + term_grace_;
  if (begin(StopReason::signal, grace_end)) {
    return true;
  }
  // Already stopping for another reason: the signal shortens the drain to the grace.
  deadline_ = deadline_ ? std::min(*deadline_, grace_end) : grace_end;
  return false;
}

std::optional<StopControl::Clock::time_point> StopControl::next_deadline() const noexcept {
  if (!stopping()) {
    return runtime_end_;
  }
  return deadline_;
}

}  // namespace llmlb::work
