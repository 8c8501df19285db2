#include "llmlb/db/connection.hpp"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <vector>

#include "llmlb/error.hpp"

namespace llmlb::db {
namespace {

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

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? std::string(v) : fallback;
}

std::string one_line(std::string text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out += ' ';
    }
    space = false;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

void erase_all(std::string& text, const std::string& secret) {
  if (secret.size() < 2) {
    return;  // a one-character password would blank the message; libpq never echoes it anyway
  }
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "***");
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/// `text` with every valid %XX escape decoded; invalid escapes are kept as they are.
std::string percent_decoded(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
        hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

bool is_password_key(std::string key) {
  for (auto& c : key) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key == "password" || key == "sslpassword";
}

/// Every text in `conninfo` that may be a password, found without libpq's parser, so that a
/// string libpq rejects (and then quotes in its error) is redacted too: the password of a URL's
/// userinfo, the values of password= and sslpassword= in a URL's query or a key=value string
/// (quoted or not, terminated or not), each raw and percent-decoded.
std::vector<std::string> secret_candidates(const std::string& conninfo) {
  std::vector<std::string> out;
  auto add = [&](const std::string& raw) {
    if (!raw.empty()) {
      out.push_back(raw);
      out.push_back(percent_decoded(raw));
    }
  };
  const auto scheme = conninfo.find("://");
  if (scheme != std::string::npos) {
    // URL: the userinfo ends at the first '@' (libpq's reading) or, when the password holds
    // '@', '/' or '?' (which a well-formed URL would have escaped), at the last one.
    const std::size_t start = scheme + 3;
    const std::string authority = conninfo.substr(start);
    const std::size_t ends[] = {authority.find('@'), authority.rfind('@')};
    for (const auto at : ends) {
      if (at == std::string::npos) {
        continue;
      }
      const std::string userinfo = authority.substr(0, at);
      if (const auto colon = userinfo.find(':'); colon != std::string::npos) {
        add(userinfo.substr(colon + 1));
      }
    }
    // Query parameters: key=value&key=value.
    if (const auto q = conninfo.find('?', start); q != std::string::npos) {
      std::size_t pos = q + 1;
      while (pos <= conninfo.size()) {
        auto amp = conninfo.find('&', pos);
        if (amp == std::string::npos) {
          amp = conninfo.size();
        }
        const std::string pair = conninfo.substr(pos, amp - pos);
        if (const auto eq = pair.find('=');
            eq != std::string::npos && is_password_key(percent_decoded(pair.substr(0, eq)))) {
          add(pair.substr(eq + 1));
        }
        pos = amp + 1;
      }
    }
    return out;
  }
  // key=value string: keys are words, values are bare words or '...' with \ and \' escapes.
  std::size_t i = 0;
  const std::size_t n = conninfo.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i])) != 0) {
      ++i;
    }
    const std::size_t key_start = i;
    while (i < n && conninfo[i] != '=' &&
           std::isspace(static_cast<unsigned char>(conninfo[i])) == 0) {
      ++i;
    }
    const std::string key = conninfo.substr(key_start, i - key_start);
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i])) != 0) {
      ++i;
    }
    if (i >= n || conninfo[i] != '=') {
      ++i;
      continue;
    }
    ++i;
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i])) != 0) {
      ++i;
    }
    std::string value;
    std::string raw;
    if (i < n && conninfo[i] == '\'') {
      const std::size_t raw_start = ++i;
      while (i < n && conninfo[i] != '\'') {
        if (conninfo[i] == '\\' && i + 1 < n) {
          ++i;
        }
        value += conninfo[i++];
      }
      raw = conninfo.substr(raw_start, i - raw_start);
      ++i;
    } else {
      const std::size_t raw_start = i;
      while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i])) == 0) {
        if (conninfo[i] == '\\' && i + 1 < n) {
          ++i;
        }
        value += conninfo[i++];
      }
      raw = value;
      // A password with an unquoted blank: libpq stops at the blank and then quotes the next
      // word. Guess that the value runs on to the next "key=".
      std::size_t next = conninfo.find('=', i);
      next = next == std::string::npos ? n : conninfo.find_last_of(" \t\r\n", next);
      if (is_password_key(key) && next != std::string::npos && next > i) {
        add(trimmed(conninfo.substr(raw_start, next - raw_start)));
      }
    }
    if (is_password_key(key)) {
      add(value);
      add(raw);
    }
  }
  return out;
}

/// `text` with every double-quoted token replaced by "...", except a lone punctuation mark.
std::string unquoted(const std::string& text) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = text.find('"', pos);
    const auto close = open == std::string::npos ? open : text.find('"', open + 1);
    if (close == std::string::npos) {
      out += text.substr(pos);
      return out;
    }
    const std::string token = text.substr(open + 1, close - open - 1);
    const bool punctuation =
        token.size() == 1 && std::ispunct(static_cast<unsigned char>(token[0])) != 0;
    out += text.substr(pos, open - pos + 1);
    out += punctuation ? token : "...";
    out += '"';
    pos = close + 1;
  }
}

/// True if `a` and `b` have a common substring of at least 4 bytes.
bool shares_a_run(const std::string& a, const std::string& b) {
  constexpr std::size_t kRun = 4;
  if (a.size() < kRun || b.size() < kRun) {
    return false;
  }
  for (std::size_t i = 0; i + kRun <= b.size(); ++i) {
    if (a.find(b.substr(i, kRun)) != std::string::npos) {
      return true;
    }
  }
  return false;
}

/// Replaces every double-quoted token of `text` that is a piece of one of `secrets`, or
/// shares a run of 4 bytes with one (a malformed URL can make libpq read part of a password as
/// a host, a port or an option), by "***".
void erase_quoted_pieces(std::string& text, const std::vector<std::string>& secrets) {
  std::size_t pos = 0;
  while (true) {
    const auto open = text.find('"', pos);
    const auto close = open == std::string::npos ? open : text.find('"', open + 1);
    if (close == std::string::npos) {
      return;
    }
    const std::string token = text.substr(open + 1, close - open - 1);
    const bool piece =
        !token.empty() && std::any_of(secrets.begin(), secrets.end(), [&](const std::string& s) {
          return s.find(token) != std::string::npos || shares_a_run(token, s);
        });
    if (piece) {
      text.replace(open + 1, token.size(), "***");
      pos = open + 5;
    } else {
      pos = close + 1;
    }
  }
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

std::string redact(const std::string& conninfo, std::string text) {
  std::vector<std::string> secrets = secret_candidates(conninfo);
  if (auto parsed = parse(conninfo)) {
    for (const char* key : {"password", "sslpassword"}) {
      if (auto it = parsed->find(key); it != parsed->end()) {
        secrets.push_back(it->second);
      }
    }
  }
  // Longest first, so that a secret containing another is erased whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& secret : secrets) {
    erase_all(text, secret);
  }
  erase_quoted_pieces(text, secrets);
  if (const char* pw = std::getenv("PGPASSWORD"); pw != nullptr) {
    erase_all(text, pw);
  }
  return one_line(std::move(text));
}

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo) {
  if (auto ok = check_conninfo(conninfo); !ok) {
    throw UsageError(ok.error());
  }
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    // libpq checks some options only as it connects, before any network traffic; its messages
    // for those start like this. They are configuration errors, not an unreachable server.
    const std::string why = redact(conninfo, e.what());
    if (why.rfind("invalid ", 0) == 0 || why.rfind("could not match ", 0) == 0) {
      throw UsageError("invalid database URL: " + why);
    }
    throw DatabaseError(fmt::format("cannot connect to {}: {}", describe_target(conninfo), why));
  }
}

}  // namespace llmlb::db
