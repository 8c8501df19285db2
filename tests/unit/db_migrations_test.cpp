#include "llmlb/db/connection.hpp"
#include "llmlb/db/migrations.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace llmlb::db;

TEST_CASE("migrations are embedded in name order") {
  const auto& all = embedded_migrations();
  REQUIRE(all.size() >= 2);
  for (std::size_t i = 1; i < all.size(); ++i) {
    CHECK(std::string(all[i - 1].name) < std::string(all[i].name));
  }
  CHECK(std::string(all[0].sql).find("CREATE TABLE IF NOT EXISTS public.tasks") !=
        std::string::npos);
  // The ledger of existing databases names these; they must never be renamed.
  CHECK(std::string(all[0].name) == "001_schema.sql");
  CHECK(std::string(all[1].name) == "002_functions.sql");
}

TEST_CASE("function files are embedded in path order, each with its SHA-256") {
  const auto& all = embedded_functions();
  REQUIRE_FALSE(all.empty());
  std::set<std::string> names;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string name = all[i].name;
    const std::string checksum = all[i].checksum;
    CAPTURE(name);
    CHECK(names.insert(name).second);
    if (i > 0) {
      CHECK(std::string(all[i - 1].name) < name);
    }
    CHECK((name.rfind("functions/", 0) == 0 || name.rfind("views/", 0) == 0));
    CHECK(std::string(all[i].sql).find("CREATE OR REPLACE") != std::string::npos);
    CHECK(checksum.size() == 64);
    CHECK(checksum.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  // Versioned migrations and function files never share a ledger name.
  for (const auto& m : embedded_migrations()) {
    CHECK(names.count(m.name) == 0);
  }
  CHECK(names.count("functions/claim.sql") == 1);
  CHECK(names.count("views/live_leases.sql") == 1);
}

TEST_CASE("describe_target and redact never show the password") {
  const std::string url = "postgresql://alice:pa55word@db.example:6543/prod";
  const auto d = describe_target(url);
  CHECK(d == R"(database "prod" on host "db.example" port 6543 as user "alice")");
  CHECK(redact(url, "FATAL: password pa55word rejected\nsecond line") ==
        "FATAL: password *** rejected second line");
  CHECK(check_conninfo(url).ok());
  auto bad = check_conninfo("postgresql://alice:pa55word@host/db?bogus_option=1");
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().find("pa55word") == std::string::npos);
  CHECK(check_conninfo("").ok());
}
