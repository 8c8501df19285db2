// libpqxx errors, translated into llmlb's error hierarchy in one place.
#pragma once

#include <exception>
#include <string_view>

#include "llmlb/error.hpp"

namespace llmlb::db {

/// True when `e` means the connection is gone or the server cannot serve it for now: a broken
/// connection, an in-doubt commit, SQLSTATE class 08 (connection), 57P (operator intervention:
/// shutdown, restart) or 53300 (too many connections).
bool is_connection_error(const std::exception& e) noexcept;

/// Call only inside a catch block that caught `e`. Throws the llmlb error for `e`, raised while
/// doing `what` (e.g. "claim"): `e` itself when it
/// already is an llmlb::Error, DatabaseUnavailable for a connection error, else DatabaseError.
/// The message is one line: "<what> failed: <first line of e.what()>".
[[noreturn]] void rethrow_translated(std::string_view what, const std::exception& e);

/// Runs `op` and returns its result; any exception is translated by rethrow_translated.
template <typename Op>
auto guarded(std::string_view what, Op&& op) -> decltype(op()) {
  try {
    return op();
  } catch (const std::exception& e) {
    rethrow_translated(what, e);
  }
}

}  // namespace llmlb::db
