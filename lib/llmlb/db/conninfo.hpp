// Connection strings: checking them, describing where they point, and keeping their password
// out of messages. No libpqxx here, so that any command may use it.
#pragma once

#include <string>

#include "llmlb/util/result.hpp"

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

}  // namespace llmlb::db
