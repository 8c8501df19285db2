// Deadline-aware claiming: a worker that must stop at a known time claims a task for a model
// only if that model's call is expected to finish in time. Pure: estimates and time are passed
// in, so it is tested without a database.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmlb::work {

/// Which models may still be claimed for before a deadline. Not thread-safe.
class DeadlinePlanner {
 public:
  using Clock = std::chrono::steady_clock;

  /// `fallback_seconds` (>= 0): the estimate of a model with no history when no model has any;
  /// 0 claims such models to the end, so that only learned latencies hold a model back.
  explicit DeadlinePlanner(double fallback_seconds) : fallback_(fallback_seconds) {}

  /// Replaces the estimates: each model's expected call duration in seconds (e.g. the p95 of
  /// its recent calls, shared by all workers through the call log). Non-positive or non-finite
  /// values are ignored.
  void set_estimates(const std::map<std::string, double>& seconds_by_model);

  /// The expected call duration of `model`: its estimate; else, for a model with no history,
  /// the largest estimate of any model (a new model is assumed as slow as the slowest known);
  /// else the fallback.
  double estimate(const std::string& model) const;

  /// Whether a call of `model` claimed at `now` is expected to end by `deadline`.
  bool fits(const std::string& model, Clock::time_point now, Clock::time_point deadline) const;

  /// The models of `models` whose calls fit, in order.
  std::vector<std::string> fitting(const std::vector<std::string>& models, Clock::time_point now,
                                   Clock::time_point deadline) const;

 private:
  double fallback_;
  double slowest_ = 0;
  std::map<std::string, double> estimates_;
};

/// The planner as the worker uses it: estimates refreshed from the call log every
/// `refresh_every`, and a claim's model list cut to the models that fit.
class ClaimDeadline {
 public:
  using Clock = DeadlinePlanner::Clock;

  ClaimDeadline(double fallback_seconds, std::chrono::milliseconds refresh_every)
      : planner_(fallback_seconds), refresh_every_(refresh_every) {}

  /// Whether the estimates should be read again at `now` (at once the first time).
  bool refresh_due(Clock::time_point now) const noexcept { return !read_ || now >= next_read_; }
  /// New estimates (DeadlinePlanner::set_estimates), read at `now`.
  void refresh(const std::map<std::string, double>& seconds_by_model, Clock::time_point now);

  /// The models a claim at `now` may cover so that each call ends by `deadline`. The candidates
  /// are `asked` (a partial claim), else `served` (--models), else `known` (the models earlier
  /// claims reported). Returns `asked` unchanged when every candidate fits (or none is known
  /// yet); else the candidates that fit, possibly none (then the caller does not claim).
  std::optional<std::vector<std::string>> restrict(
      const std::optional<std::vector<std::string>>& asked, const std::vector<std::string>& served,
      const std::vector<std::string>& known, Clock::time_point now,
      Clock::time_point deadline) const;

  const DeadlinePlanner& planner() const noexcept { return planner_; }

 private:
  DeadlinePlanner planner_;
  std::chrono::milliseconds refresh_every_;
  bool read_ = false;
  Clock::time_point next_read_{};
};

}  // namespace llmlb::work
