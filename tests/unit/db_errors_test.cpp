// db::translate_errors: the one place where a failed database operation becomes DatabaseError.
#include "llmlb/db/errors.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using llmlb::DatabaseError;
using llmlb::UsageError;
using llmlb::db::translate_errors;

TEST_CASE("translate_errors returns what the operation returns") {
  CHECK(translate_errors("ctx", [] { return 42; }) == 42);
  int calls = 0;
  translate_errors("ctx", [&] { ++calls; });
  CHECK(calls == 1);
}

TEST_CASE("translate_errors turns other exceptions into one-line DatabaseErrors") {
  try {
    translate_errors("cannot read x",
                     []() -> int { throw std::runtime_error("ERROR: boom\nDETAIL: more"); });
    FAIL("no exception");
  } catch (const DatabaseError& e) {
    CHECK(std::string(e.what()) == "cannot read x: ERROR: boom");
    CHECK(e.exit_code() == llmlb::kExitRuntime);
  }
}

TEST_CASE("translate_errors lets llmlb errors through and evaluates a lazy context") {
  CHECK_THROWS_WITH_AS(translate_errors("ctx", [] { throw UsageError("bad --rpm"); }), "bad --rpm",
                       UsageError);
  long long done = 0;
  auto context = [&] { return "prune failed after deleting " + std::to_string(done) + " call(s)"; };
  CHECK_THROWS_WITH_AS(translate_errors(context,
                                        [&] {
                                          done = 3;
                                          throw std::runtime_error("gone");
                                        }),
                       "prune failed after deleting 3 call(s): gone", DatabaseError);
}
