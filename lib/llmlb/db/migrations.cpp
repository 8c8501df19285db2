#include "llmlb/db/migrations.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>
#include <set>

#include "llmlb/error.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::db {
namespace {

constexpr const char* kCreateLedger =
    "CREATE SCHEMA IF NOT EXISTS llmlb;"
    "CREATE TABLE IF NOT EXISTS llmlb.schema_migrations ("
    "  name text PRIMARY KEY,"
    "  applied_at timestamptz NOT NULL DEFAULT clock_timestamp())";

/// Names in the ledger. Throws pqxx::undefined_table when there is no ledger (no llmlb schema).
std::set<std::string> recorded(pqxx::transaction_base& tx) {
  std::set<std::string> names;
  for (const auto& row : tx.exec("SELECT name FROM llmlb.schema_migrations")) {
    names.insert(row[0].as<std::string>());
  }
  return names;
}

void check_known(const std::set<std::string>& done) {
  std::set<std::string> known;
  for (const auto& m : embedded_migrations()) {
    known.insert(m.name);
  }
  for (const auto& name : done) {
    if (known.count(name) == 0) {
      throw RuntimeError(fmt::format(
          "the database has migration {} which this llmlb does not know; upgrade llmlb", name));
    }
  }
}

}  // namespace

MigrateReport migrate(pqxx::connection& connection) {
  MigrateReport report;
  std::string current = "(setup)";
  try {
    pqxx::work tx(connection);
    // Quiet the NOTICEs that IF NOT EXISTS raises; they are not news to the operator.
    tx.exec("SET LOCAL client_min_messages = warning");
    tx.exec("SELECT pg_advisory_xact_lock(72617, 0)");
    tx.exec(kCreateLedger);
    const auto done = recorded(tx);
    check_known(done);
    for (const auto& m : embedded_migrations()) {
      if (done.count(m.name) != 0) {
        ++report.already;
        continue;
      }
      current = m.name;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO llmlb.schema_migrations (name) VALUES ($1)", std::string(m.name));
      report.applied.emplace_back(m.name);
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

std::vector<std::string> pending_migrations(pqxx::connection& connection) {
  // One round trip on the common path (every command runs this before its first real query):
  // no transaction, no existence probe; a missing ledger surfaces as undefined_table.
  std::set<std::string> done;
  try {
    pqxx::nontransaction tx(connection);
    done = recorded(tx);
  } catch (const pqxx::undefined_table&) {
    done.clear();  // no llmlb schema (or no ledger) yet: everything is pending
  } catch (const std::exception& e) {
    throw DatabaseError(fmt::format("cannot read the schema version: {}", e.what()));
  }
  std::vector<std::string> pending;
  for (const auto& m : embedded_migrations()) {
    if (done.count(m.name) == 0) {
      pending.emplace_back(m.name);
    }
  }
  return pending;
}

void require_current_schema(pqxx::connection& connection) {
  const auto pending = pending_migrations(connection);
  if (pending.empty()) {
    return;
  }
  if (pending.size() == embedded_migrations().size()) {
    throw UsageError("the database has no llmlb schema; run `llmlb migrate` first");
  }
  throw UsageError(fmt::format(
      "the llmlb schema is not up to date ({} migration(s) pending); run `llmlb migrate`",
      pending.size()));
}

}  // namespace llmlb::db
