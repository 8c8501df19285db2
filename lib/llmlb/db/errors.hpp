// The one place where a failed database operation becomes an llmlb error.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "llmlb/error.hpp"

namespace llmlb::db {

/// True when `failure` means the connection is gone or the server cannot serve it for now: a
/// broken connection, an in-doubt commit, SQLSTATE class 08 (connection), 57P (shutdown,
/// restart) or 53300 (too many connections).
bool is_connection_error(const std::exception& failure) noexcept;

/// Throws "<context>: <first line of failure.what()>" as DatabaseUnavailable when
/// is_connection_error(failure) (the operation may succeed on a new connection), else as
/// DatabaseError.
[[noreturn]] void throw_database_error(const std::string& context, const std::exception& failure);

/// Runs `op()` and returns what it returns. An llmlb::Error (UsageError, DatabaseError, ...)
/// thrown by `op` passes through unchanged; any other std::exception (libpqxx's errors, a
/// broken connection, std::bad_alloc) is translated exactly once by throw_database_error.
/// `context` is a string, or a callable returning one that is called only on failure (so that
/// it can say how far the operation got, e.g. "prune failed after deleting 3 call(s)"). Example:
///     return db::translate_errors("cannot read model limits", [&] { ...queries... });
template <class Context, class Op>
auto translate_errors(Context&& context, Op&& op) -> decltype(std::forward<Op>(op)()) {
  try {
    return std::forward<Op>(op)();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    if constexpr (std::is_invocable_v<Context&>) {
      throw_database_error(context(), e);
    } else {
      throw_database_error(std::string(context), e);
    }
  }
}

}  // namespace llmlb::db
