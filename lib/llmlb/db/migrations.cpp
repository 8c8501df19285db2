#include "llmlb/db/migrations.hpp"

#include "llmlb/db/session_impl.hpp"

#include <fmt/format.h>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>

#include "llmlb/db/schema_check.hpp"
#include "llmlb/error.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::db {
namespace {

// The ledger: one row per versioned migration (kind 'versioned', no checksum) and one per
// function file (kind 'function', the SHA-256 of the text last applied).
constexpr const char* kCreateLedger =
    "CREATE SCHEMA IF NOT EXISTS llmlb;"
    "CREATE TABLE IF NOT EXISTS llmlb.schema_migrations ("
    "  name text PRIMARY KEY,"
    "  applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    "  kind text NOT NULL DEFAULT 'versioned' CHECK (kind IN ('versioned', 'function')),"
    "  checksum text)";

// Ledgers made before function files existed lack kind and checksum. The columns are added only
// when missing: ALTER TABLE would otherwise lock the ledger, which every command reads at
// start-up, for the whole of every migrate.
constexpr const char* kUpgradeLedger =
    "DO $$ BEGIN"
    "  IF NOT EXISTS (SELECT 1 FROM pg_attribute"
    "                  WHERE attrelid = 'llmlb.schema_migrations'::regclass"
    "                    AND attname = 'checksum' AND NOT attisdropped) THEN"
    "    ALTER TABLE llmlb.schema_migrations"
    "      ADD COLUMN kind text NOT NULL DEFAULT 'versioned'"
    "        CHECK (kind IN ('versioned', 'function')),"
    "      ADD COLUMN checksum text;"
    "  END IF;"
    "END $$";

constexpr const char* kVersioned =
    "SELECT name, checksum FROM llmlb.schema_migrations WHERE kind = 'versioned'";
constexpr const char* kFunctions =
    "SELECT name, checksum FROM llmlb.schema_migrations WHERE kind = 'function'";

/// Ledger rows: name -> recorded checksum (none for versioned migrations).
using Ledger = std::map<std::string, std::optional<std::string>>;

/// Reads the ledger with `query`, which returns (name, checksum). Throws pqxx::undefined_table
/// when there is no ledger (no llmlb schema).
Ledger read_ledger(pqxx::transaction_base& tx, const char* query) {
  Ledger ledger;
  for (const auto& row : tx.exec(query)) {
    ledger.emplace(row[0].as<std::string>(),
                   row[1].is_null() ? std::nullopt : std::optional(row[1].as<std::string>()));
  }
  return ledger;
}

template <typename Files>
void check_known(const Ledger& recorded, const Files& files, const char* what) {
  std::set<std::string> known;
  for (const auto& f : files) {
    known.insert(f.name);
  }
  for (const auto& [name, checksum] : recorded) {
    if (known.count(name) == 0) {
      throw RuntimeError(fmt::format(
          "the database has {} {} which this llmlb does not know; upgrade llmlb", what, name));
    }
  }
}

struct Pending {
  std::vector<std::string> versioned;
  std::vector<std::string> functions;
};

Pending pending_against(const Ledger& ledger) {
  Pending p;
  for (const auto& m : embedded_migrations()) {
    if (ledger.count(m.name) == 0) {
      p.versioned.emplace_back(m.name);
    }
  }
  for (const auto& f : embedded_functions()) {
    const auto it = ledger.find(f.name);
    if (it == ledger.end() || it->second != std::optional<std::string>(f.checksum)) {
      p.functions.emplace_back(f.name);
    }
  }
  return p;
}

Pending read_pending(pqxx::connection& connection) {
  // One round trip on the common path (every command runs this before its first real query):
  // no transaction, no existence probe; a missing ledger surfaces as undefined_table. The
  // checksum is read through to_jsonb so that a ledger without that column (migrated by a
  // release before function files) reads as "no checksums" instead of failing.
  Ledger ledger;
  try {
    pqxx::nontransaction tx(connection);
    ledger =
        read_ledger(tx, "SELECT name, to_jsonb(m) ->> 'checksum' FROM llmlb.schema_migrations m");
  } catch (const pqxx::undefined_table&) {
    ledger.clear();  // no llmlb schema (or no ledger) yet: everything is pending
  } catch (const std::exception& e) {
    throw DatabaseError(fmt::format("cannot read the schema version: {}", e.what()));
  }
  return pending_against(ledger);
}

}  // namespace

MigrateReport migrate(Session& session) {
  auto& connection = connection_of(session);
  MigrateReport report;
  std::string current = "(setup)";
  try {
    pqxx::work tx(connection);
    // Quiet the NOTICEs that IF NOT EXISTS raises; they are not news to the operator.
    tx.exec("SET LOCAL client_min_messages = warning");
    tx.exec("SELECT pg_advisory_xact_lock(72617, 0)");
    // Before anything is changed: a tasks table llmlb cannot work with is refused as it is.
    if (const auto problems = tasks_table_problems(tx); !problems.empty()) {
      throw UsageError(problems.size() == 1
                           ? problems[0]
                           : fmt::format("{} (and {} more problem(s) with public.tasks)",
                                         problems[0], problems.size() - 1));
    }
    tx.exec(kCreateLedger);
    tx.exec(kUpgradeLedger);
    const auto done = read_ledger(tx, kVersioned);
    check_known(done, embedded_migrations(), "migration");
    for (const auto& m : embedded_migrations()) {
      if (done.count(m.name) != 0) {
        ++report.already;
        continue;
      }
      current = m.name;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO llmlb.schema_migrations (name, kind) VALUES ($1, 'versioned')",
                     std::string(m.name));
      report.applied.emplace_back(m.name);
    }
    // Read after the versioned migrations: one that retires a function file drops its objects
    // and deletes its ledger row.
    current = "(setup)";
    const auto recorded = read_ledger(tx, kFunctions);
    check_known(recorded, embedded_functions(), "function file");
    for (const auto& f : embedded_functions()) {
      const auto it = recorded.find(f.name);
      if (it != recorded.end() && it->second == std::optional<std::string>(f.checksum)) {
        ++report.functions_current;
        continue;
      }
      current = f.name;
      tx.exec(f.sql);
      tx.exec_params(
          "INSERT INTO llmlb.schema_migrations (name, kind, checksum) VALUES ($1, 'function', $2)"
          " ON CONFLICT (name) DO UPDATE"
          " SET checksum = excluded.checksum, applied_at = clock_timestamp()",
          std::string(f.name), std::string(f.checksum));
      report.functions_applied.emplace_back(f.name);
    }
    tx.commit();
  } catch (const Error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseError(fmt::format("lost the database connection during migration: {}", e.what()));
  } catch (const std::exception& e) {
    const std::string why = util::first_line(e.what());
    throw DatabaseError(fmt::format("migration {} failed, nothing was applied: {}", current, why));
  }
  return report;
}

std::vector<std::string> pending_migrations(Session& session) {
  auto& connection = connection_of(session);
  auto p = read_pending(connection);
  p.versioned.insert(p.versioned.end(), p.functions.begin(), p.functions.end());
  return p.versioned;
}

void require_current_schema(Session& session) {
  auto& connection = connection_of(session);
  const auto p = read_pending(connection);
  if (p.versioned.empty() && p.functions.empty()) {
    return;
  }
  if (p.versioned.size() == embedded_migrations().size()) {
    throw UsageError("the database has no llmlb schema; run `llmlb migrate` first");
  }
  throw UsageError(fmt::format(
      "the llmlb schema is not up to date ({} migration(s) pending); run `llmlb migrate`",
      p.versioned.size() + p.functions.size()));
}

}  // namespace llmlb::db
