#include "llmlb/db/connection.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace llmlb::db;

namespace {

struct Hostile {
  const char* conninfo;
  /// The password as written, and any piece of it libpq might quote on its own.
  std::vector<std::string> secrets;
  bool well_formed;  ///< check_conninfo accepts it
};

// Connection strings a user may pass, each hiding a password somewhere. Every text llmlb derives
// from them (the check's failure, the target's description, a redacted libpq message that
// quotes the string or the password) must be free of the password and its pieces.
const std::vector<Hostile> kHostile = {
    {"postgresql://u:Secr3tPw@[::1", {"Secr3tPw"}, false},
    {"postgresql://u:Secr3tPw@[::1]:5432/db", {"Secr3tPw"}, true},
    {"postgresql://u:Secr3tPw@[::1]:99999/db", {"Secr3tPw"}, false},
    {"postgresql://u:Secr%zzPw@host/db", {"Secr%zzPw"}, false},
    {"postgresql://u:Secr%33tPw@host/db", {"Secr%33tPw", "Secr3tPw"}, true},
    {"postgresql://u:Secr3tPw%@host/db", {"Secr3tPw%", "Secr3tPw"}, false},
    {"postgresql://u:Secr3tPw@host:notaport/db?bogus=1", {"Secr3tPw"}, false},
    {"postgresql://u@host/db?password=Secr3tPw", {"Secr3tPw"}, true},
    {"postgresql://u@host/db?password=Secr3tPw&bogus=1", {"Secr3tPw"}, false},
    {"postgresql://u@host/db?password=Secr%zzPw", {"Secr%zzPw"}, false},
    {"postgresql://u@host/db?sslpassword=Secr3tPw&sslmode=bogus", {"Secr3tPw"}, false},
    {"postgresql://u@host/db?password=Secr3tPw&sslmode=bogus", {"Secr3tPw"}, false},
    {"postgresql://u:pa@ss-word@host/db", {"pa@ss-word", "ss-word"}, true},
    {"postgresql://u:pa/ss-word@host/db", {"pa/ss-word", "pa"}, false},
    {"postgresql://u:pa?ss-word=1@host/db", {"pa?ss-word=1", "ss-word"}, true},
    {"postgres://u:Secr3tPw@host:5432,other:x/db", {"Secr3tPw"}, false},
    {"host=h password='Secr3t Pw' dbname=d", {"Secr3t Pw"}, true},
    {"host=h password='Secr3tPw", {"Secr3tPw"}, false},
    {"host=h password=Secr3tPw sslmode=bogus", {"Secr3tPw"}, false},
    {"host=h password=Secr3tPw port=0x10", {"Secr3tPw"}, false},
    {R"(host=h password='Se\'cr3tPw' dbname=d)", {"Se'cr3tPw", R"(Se\'cr3tPw)"}, true},
    {"host=h password=Secr3t Pw", {"Secr3t", "Pw"}, false},
    {"host=h password = Secr3tPw", {"Secr3tPw"}, true},
    {"host=h sslpassword=Secr3tPw connect_timeout=soon", {"Secr3tPw"}, false},
};

bool leaks(const std::string& text, const Hostile& h) {
  for (const auto& s : h.secrets) {
    if (text.find(s) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("no text derived from a hostile connection string holds its password") {
  for (const auto& h : kHostile) {
    const std::string conninfo = h.conninfo;
    CAPTURE(conninfo);
    const auto checked = check_conninfo(conninfo);
    CHECK(checked.ok() == h.well_formed);
    if (!checked.ok()) {
      CHECK(checked.error().rfind("invalid database URL: ", 0) == 0);
      CHECK_FALSE(leaks(checked.error(), h));
    }
    CHECK_FALSE(leaks(describe_target(conninfo), h));
    // libpq's messages quote the string, or the token they choked on.
    CHECK_FALSE(leaks(redact(conninfo, "in URI: \"" + conninfo + "\""), h));
    for (const auto& s : h.secrets) {
      CHECK_FALSE(leaks(redact(conninfo, "invalid token: \"" + s + "\"\nsecond line"), h));
    }
  }
}

TEST_CASE("malformed connection options are usage errors that say which option") {
  struct Case {
    const char* conninfo;
    const char* message;
  };
  const Case cases[] = {
      {"postgresql://h/db?sslmode=bogus", "invalid sslmode \"bogus\""},
      {"host=h sslmode=Require", "invalid sslmode \"Require\""},
      {"postgresql://h:99999/db", "invalid port \"99999\""},
      {"postgresql://h:0/db", "invalid port \"0\""},
      {"host=h port=54x", "invalid port \"54x\""},
      {"host=h gssencmode=maybe", "invalid gssencmode"},
      {"host=h target_session_attrs=whatever", "invalid target_session_attrs"},
      {"host=h connect_timeout=10s", "invalid connect_timeout"},
      {"host=h channel_binding=on", "invalid channel_binding"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.conninfo);
    const auto r = check_conninfo(c.conninfo);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.message) != std::string::npos);
  }
  for (const char* good :
       {"", "postgresql://h:5432,h2:5433/db?sslmode=verify-full&connect_timeout=5",
        "host=h port=5432 sslmode=disable keepalives=1 target_session_attrs=read-write",
        "postgresql:///db?host=/var/run/postgresql"}) {
    CAPTURE(good);
    CHECK(check_conninfo(good).ok());
  }
}
