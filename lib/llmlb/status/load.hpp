// Loading the status snapshot: the database figures (db::read_status) plus the ETA.
#pragma once

#include "llmlb/db/session.hpp"
#include "llmlb/status/data.hpp"

namespace llmlb::status {

/// Reads one consistent snapshot with db::read_status() and fills in the ETA (compute_eta).
/// Throws DatabaseError "cannot read the status: ..." on query failures.
StatusSnapshot load(db::Session& session, const StatusWindows& windows);

}  // namespace llmlb::status
