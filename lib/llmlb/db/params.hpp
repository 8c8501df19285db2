// Helpers for passing parameters to libpqxx 6, which has no std::optional support.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>

namespace llmlb::db {

/// The parameter for an optional string: its characters, or a null pointer that libpqxx sends
/// as SQL NULL. The returned pointer lives as long as `value`.
inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

/// An optional number as the text of a parameter (fmt's shortest form that reads back to the
/// same value, e.g. "1.5", "42"), or nullopt for SQL NULL; pass it on with nullable().
template <typename T>
std::optional<std::string> number_text(const std::optional<T>& value) {
  return value ? std::optional<std::string>(fmt::format("{}", *value)) : std::nullopt;
}

}  // namespace llmlb::db
