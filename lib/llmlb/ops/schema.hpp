// The schema check the operator commands share.
#pragma once

#include <pqxx/connection>

namespace llmlb::ops {

/// Throws UsageError (exit 2) with one line saying what to do when the database has no llmlb
/// schema at all ("... has no llmlb schema; run `llmlb migrate` first") or when migrations are
/// pending. Throws DatabaseError when the check itself fails.
void require_llmlb_schema(pqxx::connection& connection);

}  // namespace llmlb::ops
