// An expected-style result for low-level code: either a value or a one-line error message.
// Low-level functions return Result; the layers above turn errors into llmlb::Error.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace llmlb::util {

/// The error half of a Result: a one-line, human-readable message.
struct Failure {
  std::string message;
};

/// Builds the error half of a Result.
inline Failure fail(std::string message) {
  return Failure{std::move(message)};
}

/// Holds either a T or a Failure. value() on a failed result and error() on a good one are
/// programming errors (checked by assert in debug builds, undefined otherwise).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Failure failure) : v_(std::move(failure)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

  /// The message of a failed result.
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Failure> v_;
};

}  // namespace llmlb::util
