// Opening PostgreSQL connections, with errors that name the target but never the password.
#pragma once

#include <memory>
#include <string>

#include "llmlb/util/result.hpp"

#include <pqxx/connection>

namespace llmlb::db {

/// Checks that `conninfo` (a postgresql:// URL or key=value string; empty means libpq's
/// defaults) is well formed. Returns a failure whose message never repeats the string itself,
/// since it may hold a password.
util::Result<bool> check_conninfo(const std::string& conninfo);

/// Describes where `conninfo` points, for messages: `database "d" on host "h" port 5432 as
/// user "u"`, filling gaps from PGHOST/PGPORT/PGDATABASE/PGUSER. Never includes the password.
/// A malformed string yields "the configured database".
std::string describe_target(const std::string& conninfo);

/// Removes every occurrence of the password held in `conninfo` (and of PGPASSWORD) from
/// `text`, and makes it one line with util::sanitize (control characters become spaces,
/// blanks collapse, invalid UTF-8 becomes U+FFFD). Used on every database error before it is
/// shown.
std::string redact(const std::string& conninfo, std::string text);

/// Opens a connection. Throws UsageError when `conninfo` is malformed and DatabaseError, in one
/// line naming the target and libpq's reason, when the server cannot be reached or refuses.
/// The caller owns the connection.
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo);

}  // namespace llmlb::db
