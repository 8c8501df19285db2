// The SQL in sql/, compiled into the binary, and the code that applies it: versioned migrations
// (sql/migrations/, applied once each, in name order) and function files (sql/functions/ and
// sql/views/, re-applied whenever their text changes).
#pragma once

#include <string>
#include <vector>

#include "llmlb/db/session.hpp"

namespace llmlb::db {

/// One versioned migration: its file name (which orders it, e.g. "001_schema.sql") and its SQL.
struct Migration {
  const char* name;
  const char* sql;
};

/// One function file: its path under sql/ (e.g. "functions/claim.sql"), its SQL (CREATE OR
/// REPLACE of one function or view, with whatever else belongs to it, e.g. a trigger), and the
/// SHA-256 of its text in lowercase hex, computed at build time.
struct FunctionFile {
  const char* name;
  const char* sql;
  const char* checksum;
};

/// Every versioned migration compiled into this binary, in name order. Never empty.
const std::vector<Migration>& embedded_migrations();

/// Every function file compiled into this binary, in path order (functions/ before views/, each
/// in file-name order), which is the order migrate() applies them in. Never empty.
const std::vector<FunctionFile>& embedded_functions();

/// What migrate() did.
struct MigrateReport {
  std::vector<std::string> applied;            ///< versioned migrations applied, in order
  std::size_t already = 0;                     ///< versioned migrations already recorded
  std::vector<std::string> functions_applied;  ///< function files (re-)applied, in order
  std::size_t functions_current = 0;           ///< function files whose checksum matched
};

/// Brings the schema up to date in one transaction under pg_advisory_xact_lock(72617, 0): applies
/// every versioned migration not yet recorded in llmlb.schema_migrations, in order, then every
/// function file whose checksum differs from the one recorded there (or has none), in order, and
/// records both. A second call applies nothing; concurrent calls serialise on the lock.
/// The ledger is trusted: a function changed by hand in the database, with its file unchanged,
/// is not re-applied.
/// First, before changing anything, it checks a pre-existing public.tasks
/// (tasks_table_problems) and throws UsageError with the first problem, saying what to change.
/// Throws DatabaseError (with the failing file's name) if any statement fails; then nothing is
/// applied. Throws RuntimeError if the ledger records a versioned migration or a function file
/// this binary does not know (a newer llmlb migrated the database).
MigrateReport migrate(Session& session);

/// Names of the versioned migrations the database lacks and of the function files whose recorded
/// checksum differs from this binary's. Empty when the schema is current. Throws DatabaseError on
/// a query failure.
std::vector<std::string> pending_migrations(Session& session);

/// Throws UsageError (exit 2) with one line saying what to do when the database has no llmlb
/// schema at all ("... has no llmlb schema; run `llmlb migrate` first") or when migrations or
/// function files are pending. Throws DatabaseError when the check itself fails. Every command but
/// migrate calls it: one query, no transaction.
void require_current_schema(Session& session);

}  // namespace llmlb::db
