#include "llmlb/status/data.hpp"

namespace llmlb::status {

long long Backlog::waiting() const {
  long long n = unpinned_waiting;
  for (const auto& [model, count] : pinned_waiting) {
    n += count;
  }
  return n;
}

bool StatusSnapshot::empty() const {
  return models.empty() && backlog.waiting() == 0 && backlog.in_flight == 0 &&
         backlog.solved == 0 && backlog.failed == 0;
}

const char* to_string(EtaState state) {
  switch (state) {
    case EtaState::ok:
      return "ok";
    case EtaState::empty:
      return "empty";
    case EtaState::no_enabled_model:
      return "no_enabled_model";
    case EtaState::no_capacity:
      return "no_capacity";
    case EtaState::cooldown:
      return "cooldown";
  }
  return "unknown";
}

}  // namespace llmlb::status
