#include "llmlb/util/text.hpp"

#include <doctest/doctest.h>

using llmlb::util::first_line;

TEST_CASE("first_line keeps everything before the first newline") {
  CHECK(first_line("ERROR: boom\nDETAIL: more\n") == "ERROR: boom");
  CHECK(first_line("one line") == "one line");
  CHECK(first_line("") == "");
  CHECK(first_line("\nafter") == "");
}
