#include "llmlb/ops/schema.hpp"

#include <fmt/format.h>

#include "llmlb/db/migrations.hpp"
#include "llmlb/error.hpp"

namespace llmlb::ops {

void require_llmlb_schema(pqxx::connection& connection) {
  const auto pending = db::pending_migrations(connection);
  if (pending.empty()) {
    return;
  }
  if (pending.size() == db::embedded_migrations().size()) {
    throw UsageError("the database has no llmlb schema; run `llmlb migrate` first");
  }
  throw UsageError(fmt::format(
      "the llmlb schema is not up to date ({} migration(s) pending); run `llmlb migrate`",
      pending.size()));
}

}  // namespace llmlb::ops
