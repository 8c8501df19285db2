#include "llmlb/db/connection.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "llmlb/error.hpp"

namespace llmlb::db {

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo) {
  if (auto ok = check_conninfo(conninfo); !ok) {
    throw UsageError(ok.error());
  }
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    // libpq checks some options only as it connects, before any network traffic; its messages
    // for those start like this. They are configuration errors, not an unreachable server.
    const std::string why = redact(conninfo, e.what());
    if (why.rfind("invalid ", 0) == 0 || why.rfind("could not match ", 0) == 0) {
      throw UsageError("invalid database URL: " + why);
    }
    throw DatabaseError(fmt::format("cannot connect to {}: {}", describe_target(conninfo), why));
  }
}

}  // namespace llmlb::db
