// Pure renderings of a status snapshot (unit-tested on fixture data): a table for people, JSON
// with stable keys for scripts, and the Prometheus text exposition format for node_exporter's
// textfile collector.
#pragma once

#include <string>

#include "llmlb/status/data.hpp"

namespace llmlb::status {

/// The readable view: backlog and ETA lines, a limits/load table and an outcomes table (one row
/// per model), then the live workers. On an empty snapshot (no tasks, no models) one line says
/// so and how to start. Ends with a newline.
std::string render_status_table(const StatusSnapshot& snapshot);

/// The same content as one JSON object (keys documented in docs/operations.md), one line,
/// ending with a newline. Unknown values (no latency yet, no ETA) are null, never NaN.
std::string render_status_json(const StatusSnapshot& snapshot);

/// The metrics, every name prefixed llmlb_, each family with # HELP and # TYPE lines, label
/// values escaped. Families without samples are left out. Ends with a newline.
std::string render_status_prometheus(const StatusSnapshot& snapshot);

/// One line about the ETA for people, e.g. "2m10s at the current limits" or
/// "none: no enabled model".
std::string describe_eta(const StatusSnapshot& snapshot);

}  // namespace llmlb::status
