// Parsing of connection strings, shared by conninfo.cpp and redact.cpp. Internal to
// lib/llmlb/db/.
#pragma once

#include <map>
#include <string>

#include "llmlb/util/result.hpp"

namespace llmlb::db::detail {

/// The options given explicitly in `conninfo` (libpq's PQconninfoParse), or libpq's reason.
util::Result<std::map<std::string, std::string>> parse(const std::string& conninfo);

/// `text` without leading and trailing blanks.
std::string trimmed(const std::string& text);

/// `text` with every double-quoted token replaced by "...", except a lone punctuation mark:
/// libpq quotes the token it choked on, and in a string it cannot parse any token may be a
/// piece of a password.
std::string unquoted(const std::string& text);

}  // namespace llmlb::db::detail
