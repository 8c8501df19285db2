// Small text helpers for messages.
#pragma once

#include <string>
#include <string_view>

namespace llmlb::util {

/// The first line of `text` (everything before the first '\n'); all of it when it has none.
/// Used to keep database error messages to one line.
inline std::string first_line(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace llmlb::util
