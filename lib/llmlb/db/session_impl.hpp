// The libpqxx side of db::Session. Internal to lib/llmlb/db/: nothing else may include it.
#pragma once

#include <memory>
#include <string>

#include "llmlb/db/session.hpp"

#include <pqxx/connection>

namespace llmlb::db {

struct Session::Impl {
  std::string conninfo;
  std::unique_ptr<pqxx::connection> connection;  ///< never null
};

/// The connection of `session`, for the queries under lib/llmlb/db/.
inline pqxx::connection& connection_of(Session& session) {
  return *session.impl().connection;
}

}  // namespace llmlb::db
