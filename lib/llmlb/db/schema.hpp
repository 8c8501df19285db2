// Schema migrations through a Session, for `llmlb migrate` (the migrations themselves and the
// code that applies them live in migrations.hpp, which only lib/llmlb/db/ includes).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "llmlb/db/session.hpp"

namespace llmlb::db {

/// What apply_migrations() did (the same figures as db::MigrateReport, without libpqxx).
struct MigrationSummary {
  std::vector<std::string> applied;  ///< names applied by this call, in order
  std::size_t already = 0;           ///< how many were already recorded
};

/// Applies every pending migration with db::migrate() (migrations.hpp), with its contract: one
/// transaction under an advisory lock, idempotent; throws DatabaseError naming the failing
/// migration (then nothing is applied) and RuntimeError when the database knows a migration
/// this binary does not.
MigrationSummary apply_migrations(Session& session);

}  // namespace llmlb::db
