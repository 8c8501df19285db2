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
    throw DatabaseError(fmt::format("cannot connect to {}: {}", describe_target(conninfo),
                                    redact(conninfo, e.what())));
  }
}

}  // namespace llmlb::db
