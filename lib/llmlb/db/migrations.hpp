// Versioned SQL migrations from sql/, compiled into the binary, and the code that applies them.
#pragma once

#include <string>
#include <vector>

#include <pqxx/connection>

namespace llmlb::db {

/// One migration: its file name (which orders it, e.g. "001_schema.sql") and its SQL text.
struct Migration {
  const char* name;
  const char* sql;
};

/// Every migration compiled into this binary, in name order. Never empty.
const std::vector<Migration>& embedded_migrations();

/// What migrate() did.
struct MigrateReport {
  std::vector<std::string> applied;  ///< names applied by this call, in order
  std::size_t already = 0;           ///< how many were already recorded
};

/// Applies every migration not yet recorded in llmlb.schema_migrations, in order, in one
/// transaction under pg_advisory_xact_lock(72617, 0), and records them. A second call applies
/// nothing; concurrent calls serialise on the lock, so only one applies each migration.
/// Throws DatabaseError (with the failing migration's name) if any statement fails; then nothing
/// is applied. Throws RuntimeError if the database records a migration this binary does not know
/// (it is older than the schema).
MigrateReport migrate(pqxx::connection& connection);

/// Names of the recorded migrations this binary knows but the database lacks. Empty when the
/// schema is current. Throws DatabaseError on a query failure.
std::vector<std::string> pending_migrations(pqxx::connection& connection);

/// Throws UsageError (exit 2) with one line saying what to do when the database has no llmlb
/// schema at all ("... has no llmlb schema; run `llmlb migrate` first") or when migrations are
/// pending. Throws DatabaseError when the check itself fails. Every command but migrate calls it.
void require_current_schema(pqxx::connection& connection);

}  // namespace llmlb::db
