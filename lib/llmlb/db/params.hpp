// Helpers for passing parameters to libpqxx 6, which has no std::optional support.
#pragma once

#include <optional>
#include <string>

namespace llmlb::db {

/// The parameter for an optional string: its characters, or a null pointer that libpqxx sends
/// as SQL NULL. The returned pointer lives as long as `value`.
inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

}  // namespace llmlb::db
