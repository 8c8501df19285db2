#include "llmlb/work/claim_schedule.hpp"

#include <algorithm>
#include <set>

namespace llmlb::work {

namespace {

// A token due at t is claimed a little after t, so that the bucket has refilled by then.
constexpr std::chrono::microseconds kTokenSlack{500};

}  // namespace

ClaimSchedule::ClaimSchedule(std::chrono::milliseconds poll_interval)
    : poll_interval_(std::max(poll_interval, std::chrono::milliseconds(1))),
      next_full_(Clock::time_point::min()) {}

std::optional<std::vector<std::string>> ClaimSchedule::plan(Clock::time_point now) const {
  if (now >= next_full_) {
    return std::nullopt;
  }
  std::vector<std::string> due;
  for (const auto& [name, e] : models_) {
    if (e.due && *e.due <= now) {
      due.push_back(name);
    }
  }
  if (due.empty()) {
    return std::nullopt;  // called early: a full claim is the safe answer
  }
  return due;
}

void ClaimSchedule::record(const std::vector<ModelState>& models,
                           const std::optional<std::vector<std::string>>& asked,
                           Clock::time_point now) {
  const bool full = !asked.has_value();
  std::set<std::string> reported;
  bool all_idle = true;
  for (const auto& m : models) {
    reported.insert(m.model);
    Entry e;
    if (m.note == ModelNote::rate || m.note == ModelNote::cooldown ||
        m.note == ModelNote::suspended) {
      const auto wait = std::chrono::duration<double>(std::max(m.wait_seconds, 0.0));
      e.due = now + std::chrono::duration_cast<std::chrono::microseconds>(wait) + kTokenSlack;
    } else if (m.note == ModelNote::more) {
      e.due = now;
    } else if (m.note == ModelNote::inflight || m.note == ModelNote::full) {
      e.waits_for_slot = true;
    }  // 'idle': nothing to do until the next full claim
    // A suspended model has nothing claimable until its probe: for --until-empty it is idle.
    all_idle = all_idle && (m.note == ModelNote::idle || m.note == ModelNote::suspended);
    models_[m.model] = e;
  }
  if (full) {
    for (auto it = models_.begin(); it != models_.end();) {
      it = reported.count(it->first) != 0 ? std::next(it) : models_.erase(it);
    }
    next_full_ = now + poll_interval_;
    all_idle_ = all_idle;
  } else {
    for (const auto& name : *asked) {
      if (reported.count(name) == 0) {
        models_.erase(name);
      }
    }
    all_idle_ = false;
  }
}

void ClaimSchedule::on_completion(Clock::time_point now) {
  for (auto& [name, e] : models_) {
    if (e.waits_for_slot) {
      e.due = e.due ? std::min(*e.due, now) : now;
    }
  }
}

ClaimSchedule::Clock::time_point ClaimSchedule::next_due() const {
  auto next = next_full_;
  for (const auto& [name, e] : models_) {
    if (e.due) {
      next = std::min(next, *e.due);
    }
  }
  return next;
}

std::vector<std::string> ClaimSchedule::known_models() const {
  std::vector<std::string> out;
  out.reserve(models_.size());
  for (const auto& [name, entry] : models_) {
    out.push_back(name);
  }
  return out;
}

}  // namespace llmlb::work
