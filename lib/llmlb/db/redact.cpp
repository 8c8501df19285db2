#include "llmlb/db/conninfo.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "llmlb/db/conninfo_parse.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::db {
namespace detail {

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

}  // namespace detail
namespace {

using detail::parse;
using detail::trimmed;

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

}  // namespace

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
  return util::sanitize(text);
}

}  // namespace llmlb::db
