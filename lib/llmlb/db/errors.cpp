#include "llmlb/db/errors.hpp"

#include <pqxx/except>

#include "llmlb/util/text.hpp"

namespace llmlb::db {

bool is_connection_error(const std::exception& failure) noexcept {
  if (dynamic_cast<const pqxx::broken_connection*>(&failure) != nullptr) {
    return true;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&failure)) {
    const std::string state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "53300";
  }
  return dynamic_cast<const pqxx::in_doubt_error*>(&failure) != nullptr;
}

void throw_database_error(const std::string& context, const std::exception& failure) {
  const auto message = context + ": " + util::first_line(failure.what());
  if (is_connection_error(failure)) {
    throw DatabaseUnavailable(message);
  }
  throw DatabaseError(message);
}

}  // namespace llmlb::db
