#include "llmlb/db/errors.hpp"

#include "llmlb/util/text.hpp"

namespace llmlb::db {

void throw_database_error(const std::string& context, const std::exception& failure) {
  throw DatabaseError(context + ": " + util::first_line(failure.what()));
}

}  // namespace llmlb::db
