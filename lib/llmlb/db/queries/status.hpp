// The status snapshot read from PostgreSQL. All times come from the database clock.
#pragma once

#include "llmlb/db/session.hpp"
#include "llmlb/status/data.hpp"

namespace llmlb::db {

/// Reads backlog, models (read_model_rows with the unconfigured pinned names, window =
/// windows.rate_seconds), their recent calls and the live workers in one read-only REPEATABLE
/// READ transaction (one consistent snapshot, one "now"). Leaves `eta` empty (see
/// status::load). Read-only: it takes no locks that claims wait for. Throws DatabaseError
/// "cannot read the status: ...".
status::StatusSnapshot read_status(Session& session, const status::StatusWindows& windows);

}  // namespace llmlb::db
