#include "llmlb/db/connection.hpp"
#include "llmlb/db/migrations.hpp"

#include <doctest/doctest.h>

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
