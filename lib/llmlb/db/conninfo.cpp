#include "llmlb/db/conninfo.hpp"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <cstdlib>
#include <map>

#include "llmlb/util/text.hpp"

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

void erase_all(std::string& text, const std::string& secret) {
  if (secret.size() < 2) {
    return;  // a one-character password would blank the message; libpq never echoes it anyway
  }
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "***");
  }
}

}  // namespace

util::Result<bool> check_conninfo(const std::string& conninfo) {
  auto parsed = parse(conninfo);
  if (!parsed) {
    return util::fail("invalid database URL: " + redact(conninfo, parsed.error()));
  }
  return true;
}

std::string describe_target(const std::string& conninfo) {
  auto parsed = parse(conninfo);
  if (!parsed) {
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
  return fmt::format("database \"{}\" on host \"{}\" port {} as user \"{}\"", dbname, host, port,
                     user);
}

std::string redact(const std::string& conninfo, std::string text) {
  auto parsed = parse(conninfo);
  if (parsed) {
    auto it = parsed->find("password");
    if (it != parsed->end()) {
      erase_all(text, it->second);
    }
  }
  if (const char* pw = std::getenv("PGPASSWORD"); pw != nullptr) {
    erase_all(text, pw);
  }
  return util::sanitize(text);
}

}  // namespace llmlb::db
