#include "llmlb/work/deadline.hpp"

#include <algorithm>
#include <cmath>

namespace llmlb::work {

void DeadlinePlanner::set_estimates(const std::map<std::string, double>& seconds_by_model) {
  estimates_.clear();
  slowest_ = 0;
  for (const auto& [model, seconds] : seconds_by_model) {
    if (std::isfinite(seconds) && seconds > 0) {
      estimates_[model] = seconds;
      slowest_ = std::max(slowest_, seconds);
    }
  }
}

double DeadlinePlanner::estimate(const std::string& model) const {
  if (const auto it = estimates_.find(model); it != estimates_.end()) {
    return it->second;
  }
  return slowest_ > 0 ? slowest_ : fallback_;
}

bool DeadlinePlanner::fits(const std::string& model, Clock::time_point now,
                           Clock::time_point deadline) const {
  const double left = std::chrono::duration<double>(deadline - now).count();
  return estimate(model) <= left;
}

std::vector<std::string> DeadlinePlanner::fitting(const std::vector<std::string>& models,
                                                  Clock::time_point now,
                                                  Clock::time_point deadline) const {
  std::vector<std::string> out;
  for (const auto& m : models) {
    if (fits(m, now, deadline)) {
      out.push_back(m);
    }
  }
  return out;
}

void ClaimDeadline::refresh(const std::map<std::string, double>& seconds_by_model,
                            Clock::time_point now) {
  planner_.set_estimates(seconds_by_model);
  read_ = true;
  next_read_ = now + refresh_every_;
}

std::optional<std::vector<std::string>> ClaimDeadline::restrict(
    const std::optional<std::vector<std::string>>& asked, const std::vector<std::string>& served,
    const std::vector<std::string>& known, Clock::time_point now,
    Clock::time_point deadline) const {
  const auto& candidates = asked ? *asked : (!served.empty() ? served : known);
  if (candidates.empty()) {
    return asked;
  }
  auto fit = planner_.fitting(candidates, now, deadline);
  if (fit.size() == candidates.size()) {
    return asked;
  }
  return fit;
}

}  // namespace llmlb::work
