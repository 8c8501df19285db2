// The one small exception hierarchy that llmlb's higher layers throw. `main` catches
// llmlb::Error once, prints "llmlb: error: <what()>" and exits with exit_code().
#pragma once

#include <stdexcept>
#include <string>

namespace llmlb {

/// Process exit codes; documented in README.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,  ///< runtime failure: database unreachable, answers that could not be written
  kExitUsage = 2,    ///< usage or configuration error; nothing was changed
};

/// Base of every error llmlb throws on purpose. what() is one line, safe to print: it never
/// contains a password or a token.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  /// The exit code `main` maps this error to.
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// Bad input or configuration, detected before anything was changed. Exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, kExitUsage) {}
};

/// A failure while running: I/O, database, backend. Exit code 1.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(message, kExitRuntime) {}
};

/// The database could not be reached or dropped the connection. Exit code 1.
class DatabaseError : public RuntimeError {
 public:
  explicit DatabaseError(const std::string& message) : RuntimeError(message) {}
};

/// The connection was lost, or the server is restarting or refusing connections for now: the
/// operation may succeed on a new connection. Exit code 1.
class DatabaseUnavailable : public DatabaseError {
 public:
  explicit DatabaseUnavailable(const std::string& message) : DatabaseError(message) {}
};

}  // namespace llmlb
