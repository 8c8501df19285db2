#include "llmlb/status/eta.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace llmlb::status {

double model_capacity(const ModelStatus& m) {
  if (!m.configured || !m.enabled || !(m.rpm > 0)) {
    return 0;
  }
  double factor = m.rate_factor;
  if (!std::isfinite(factor) || factor <= 0) {
    factor = 0;
  }
  double cap = m.rpm / 60.0 * std::min(factor, 1.0);
  const int inflight = m.inflight_limit();
  if (m.mean_ms && *m.mean_ms > 0 && inflight > 0) {
    cap = std::min(cap, inflight / (*m.mean_ms / 1000.0));
  }
  return std::isfinite(cap) && cap > 0 ? cap : 0;
}

Eta compute_eta(const Backlog& backlog, const std::vector<ModelStatus>& models) {
  Eta eta;
  std::map<std::string, const ModelStatus*> by_name;
  bool any_enabled = false;
  double total_capacity = 0;
  for (const auto& m : models) {
    if (m.configured) {
      by_name[m.name] = &m;
    }
    if (m.configured && m.enabled) {
      any_enabled = true;
      total_capacity += model_capacity(m);
    }
  }
  long long drainable = backlog.unpinned_waiting;
  double slowest_pinned = 0;
  // Who can take the waiting work: any enabled model for unpinned tasks, the model itself for
  // pinned ones. If all of them are cooling down, no estimate: the work resumes when the first
  // cooldown ends.
  auto cooling = [](const ModelStatus& m) { return m.cooldown_seconds.value_or(0) > 0; };
  bool all_cooling = true;
  std::optional<double> first_resume;
  auto consider = [&](const ModelStatus& m) {
    if (!cooling(m)) {
      all_cooling = false;
      return;
    }
    first_resume = std::min(first_resume.value_or(*m.cooldown_seconds), *m.cooldown_seconds);
  };
  if (backlog.unpinned_waiting > 0) {
    for (const auto& m : models) {
      if (m.configured && m.enabled) {
        consider(m);
      }
    }
  }
  bool pinned_without_capacity = false;
  for (const auto& [name, count] : backlog.pinned_waiting) {
    if (count <= 0) {
      continue;
    }
    auto it = by_name.find(name);
    if (it == by_name.end() || !it->second->enabled) {
      eta.stuck_tasks += count;
      eta.stuck_models.push_back(name);
      continue;
    }
    drainable += count;
    consider(*it->second);
    const double cap = model_capacity(*it->second);
    if (cap <= 0) {
      pinned_without_capacity = true;
      continue;
    }
    slowest_pinned = std::max(slowest_pinned, it->second->cooldown_seconds.value_or(0) +
                                                  static_cast<double>(count) / cap);
  }
  if (drainable == 0 && eta.stuck_tasks == 0) {
    eta.state = EtaState::empty;
    eta.seconds = 0.0;
    return eta;
  }
  if (!any_enabled) {
    eta.state = EtaState::no_enabled_model;
    return eta;
  }
  if (drainable > 0 && all_cooling && first_resume) {
    eta.state = EtaState::cooldown;
    eta.resumes_in_seconds = first_resume;
    return eta;
  }
  if (drainable == 0 || total_capacity <= 0 || pinned_without_capacity) {
    eta.state = EtaState::no_capacity;
    return eta;
  }
  eta.state = EtaState::ok;
  eta.seconds = std::max(slowest_pinned, static_cast<double>(drainable) / total_capacity);
  return eta;
}

}  // namespace llmlb::status
