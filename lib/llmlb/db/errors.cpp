#include "llmlb/db/errors.hpp"

#include <fmt/format.h>
#include <pqxx/except>
#include <string>

#include "llmlb/util/text.hpp"

namespace llmlb::db {

bool is_connection_error(const std::exception& e) noexcept {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return true;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "53300";
  }
  return dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
}

void rethrow_translated(std::string_view what, const std::exception& e) {
  if (const auto* own = dynamic_cast<const Error*>(&e)) {
    (void)own;
    throw;
  }
  const auto message = fmt::format("{} failed: {}", what, util::first_line(e.what()));
  if (is_connection_error(e)) {
    throw DatabaseUnavailable(message);
  }
  throw DatabaseError(message);
}

}  // namespace llmlb::db
