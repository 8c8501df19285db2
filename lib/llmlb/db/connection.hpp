// Opening PostgreSQL connections, with errors that name the target but never the password.
// Outside lib/llmlb/db/, use db::Session (session.hpp) rather than a raw connection.
#pragma once

#include <memory>
#include <string>

#include "llmlb/db/conninfo.hpp"

#include <pqxx/connection>

namespace llmlb::db {

/// Opens a connection. Throws UsageError when `conninfo` is malformed and DatabaseError, in one
/// line naming the target and libpq's reason, when the server cannot be reached or refuses.
/// The caller owns the connection.
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo);

}  // namespace llmlb::db
