// Fixture rows for the status unit tests (no database).
#pragma once

#include <string>

#include "llmlb/status/data.hpp"

namespace llmlb::status::testing {

/// A configured model with burst 5 and preference 100.
inline ModelStatus model(const std::string& name, double rpm, int max_inflight,
                         bool enabled = true) {
  ModelStatus m;
  m.name = name;
  m.configured = true;
  m.enabled = enabled;
  m.rpm = rpm;
  m.burst = 5;
  m.max_inflight = max_inflight;
  m.preference = 100;
  return m;
}

}  // namespace llmlb::status::testing
