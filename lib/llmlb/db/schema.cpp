#include "llmlb/db/schema.hpp"

#include "llmlb/db/migrations.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {

MigrationSummary apply_migrations(Session& session) {
  auto report = migrate(connection_of(session));
  return MigrationSummary{std::move(report.applied), report.already};
}

}  // namespace llmlb::db
