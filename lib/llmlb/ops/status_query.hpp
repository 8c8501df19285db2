// Reading the status snapshot from PostgreSQL. All times come from the database clock.
#pragma once

#include <pqxx/connection>

#include "llmlb/ops/status_data.hpp"

namespace llmlb::ops {

/// Reads backlog, models, recent calls and live workers in one read-only REPEATABLE READ
/// transaction (one consistent snapshot, one "now"), and fills in the ETA. Read-only: it takes
/// no locks that claims wait for. Throws DatabaseError on query failures.
StatusSnapshot load_status(pqxx::connection& connection, const StatusWindows& windows);

}  // namespace llmlb::ops
