// db::Session: the one door to PostgreSQL for llmlb's commands. It owns one connection; the
// typed queries in lib/llmlb/db/queries/ take a Session& and return plain structs, so nothing
// outside lib/llmlb/db/ includes libpqxx or holds SQL text.
#pragma once

#include <memory>
#include <string>

namespace llmlb::db {

/// One open connection to the llmlb database. Not thread-safe: use one Session per thread.
/// Movable, not copyable; the connection closes when the Session is destroyed.
class Session {
 public:
  /// Opens a connection with db::connect() (connection.hpp), with its errors: UsageError when
  /// `conninfo` is malformed, DatabaseError (one line naming the target, never the password)
  /// when the server cannot be reached or refuses. Does not check the schema (see open_checked).
  explicit Session(const std::string& conninfo);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The connection string this session was opened with (it may hold a password: pass it to
  /// db::redact, never print it).
  const std::string& conninfo() const noexcept;

  /// The libpqxx side, defined in db/session_impl.hpp. Only code under lib/llmlb/db/ may use it.
  struct Impl;
  /// The implementation; valid while the Session lives (and is not moved from).
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Opens a Session and checks that the schema is current (db::require_current_schema): throws
/// UsageError (exit 2) with what to do when the database has no llmlb schema or migrations are
/// pending, and the errors of the Session constructor. What every command but migrate uses.
Session open_checked(const std::string& conninfo);

}  // namespace llmlb::db
