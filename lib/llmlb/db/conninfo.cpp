#include "llmlb/db/conninfo.hpp"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <vector>

#include "llmlb/db/conninfo_parse.hpp"

namespace llmlb::db {
namespace detail {

/// Parsed connection options (only those given explicitly), or a failure.
util::Result<std::map<std::string, std::string>> parse(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  if (conninfo.empty()) {
    return out;
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? err : "out of memory";
    if (err != nullptr) {
      PQfreemem(err);
    }
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
      why.pop_back();
    }
    return util::fail(why);
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') {
      out[o->keyword] = o->val;
    }
  }
  PQconninfoFree(opts);
  return out;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace detail
namespace {

using detail::parse;
using detail::trimmed;
using detail::unquoted;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? std::string(v) : fallback;
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

/// The values libpq checks only when it connects (and then reports like an unreachable
/// server), checked up front: ports, enumerated modes and whole-number options. The failure
/// names the option and repeats its value (redacted by the caller).
util::Result<bool> check_values(const std::map<std::string, std::string>& options) {
  static const std::map<std::string, std::vector<std::string>> kChoices = {
      {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
      {"gssencmode", {"disable", "prefer", "require"}},
      {"channel_binding", {"disable", "prefer", "require"}},
      {"target_session_attrs",
       {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
      {"ssl_min_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}},
      {"ssl_max_protocol_version", {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}},
  };
  static const char* const kWholeNumbers[] = {"connect_timeout",  "keepalives",
                                              "keepalives_idle",  "keepalives_interval",
                                              "keepalives_count", "tcp_user_timeout"};
  for (const auto& [key, value] : options) {
    if (key == "port") {
      std::size_t pos = 0;
      while (pos <= value.size()) {
        auto comma = value.find(',', pos);
        if (comma == std::string::npos) {
          comma = value.size();
        }
        const std::string port = trimmed(value.substr(pos, comma - pos));
        if (!port.empty() && (!all_digits(port) || port.size() > 5 || std::stoi(port) < 1 ||
                              std::stoi(port) > 65535)) {
          return util::fail(fmt::format("invalid port \"{}\": must be from 1 to 65535", port));
        }
        pos = comma + 1;
      }
      continue;
    }
    if (auto it = kChoices.find(key); it != kChoices.end()) {
      const auto& choices = it->second;
      if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        return util::fail(fmt::format("invalid {} \"{}\": must be one of {}", key, value,
                                      fmt::join(choices, ", ")));
      }
      continue;
    }
    for (const char* number : kWholeNumbers) {
      std::string digits = trimmed(value);
      if (!digits.empty() && digits[0] == '-') {
        digits.erase(0, 1);
      }
      if (key == number && (!all_digits(digits) || digits.size() > 9)) {
        return util::fail(fmt::format("invalid {} \"{}\": must be a whole number", key, value));
      }
    }
  }
  return true;
}

}  // namespace

util::Result<bool> check_conninfo(const std::string& conninfo) {
  auto parsed = parse(conninfo);
  if (!parsed) {
    // libpq quotes the token it choked on, or the whole string; in a string it cannot parse,
    // any token may be a piece of a password, so none is repeated.
    return util::fail("invalid database URL: " + redact(conninfo, unquoted(parsed.error())));
  }
  if (auto ok = check_values(parsed.value()); !ok) {
    return util::fail("invalid database URL: " + redact(conninfo, ok.error()));
  }
  return true;
}

std::string describe_target(const std::string& conninfo) {
  auto parsed = parse(conninfo);
  if (!parsed || !check_values(parsed.value())) {
    return "the configured database";
  }
  const auto& o = parsed.value();
  auto get = [&](const char* key, const char* env, const std::string& fallback) {
    auto it = o.find(key);
    return it != o.end() ? it->second : env_or(env, fallback);
  };
  std::string host = get("host", "PGHOST", "");
  if (host.empty()) {
    host = get("hostaddr", "PGHOSTADDR", "local socket");
  }
  const std::string user = get("user", "PGUSER", env_or("USER", "?"));
  const std::string dbname = get("dbname", "PGDATABASE", user);
  const std::string port = get("port", "PGPORT", "5432");
  // A malformed URL can put a piece of the password into the host or the database name.
  return redact(conninfo, fmt::format("database \"{}\" on host \"{}\" port {} as user \"{}\"",
                                      dbname, host, port, user));
}

}  // namespace llmlb::db
