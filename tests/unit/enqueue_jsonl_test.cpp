#include "llmlb/enqueue/jsonl.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace llmlb::enqueue;

TEST_CASE("parse_line reads prompt, model and priority") {
  auto t = parse_line(R"({"prompt": "hi \"there\" \ud83d\ude00", "model": "m1", "priority": -2})");
  REQUIRE(t.ok());
  CHECK(t->prompt == "hi \"there\" \xF0\x9F\x98\x80");
  CHECK(*t->model == "m1");
  CHECK(t->priority == -2);
  auto u = parse_line(R"({"prompt": "x", "model": null})");
  REQUIRE(u.ok());
  CHECK_FALSE(u->model.has_value());
}

TEST_CASE("parse_line rejects bad lines with reasons") {
  CHECK(parse_line("not json").error().find("not valid JSON") == 0);
  CHECK(parse_line("[1]").error().find("expected a JSON object") == 0);
  CHECK(parse_line(R"({"model": "m"})").error() == "missing \"prompt\"");
  CHECK(parse_line(R"({"prompt": 1})").error() == "\"prompt\" must be a string");
  CHECK(parse_line(R"({"prompt": "  "})").error().find("empty") != std::string::npos);
  CHECK(parse_line(R"({"prompt": "a\u0000b"})").error().find("NUL") != std::string::npos);
  CHECK(parse_line(R"({"prompt": "a", "priority": 1.5})").error().find("priority") !=
        std::string::npos);
  CHECK(parse_line(R"({"prompt": "a", "priority": 9999999999})").ok() == false);
  CHECK(parse_line(R"({"prompt": "a", "model": "a b"})").error().find("model") !=
        std::string::npos);
  CHECK(parse_line(R"({"prompt": "a", "colour": 1})").error().find("unknown key") == 0);
  CHECK(parse_line(R"({"prompt": "a"} {"prompt": "b"})").ok() == false);
  CHECK_FALSE(parse_line("{\"prompt\": \"\xff\"}").ok());
}

TEST_CASE("parse_stream numbers lines and skips blanks") {
  std::istringstream in("{\"prompt\": \"a\"}\n\n  \nbad\r\n{\"prompt\": \"b\"}\r\n");
  auto p = parse_stream(in);
  CHECK(p.lines == 5);
  REQUIRE(p.tasks.size() == 2);
  CHECK(p.tasks[1].prompt == "b");
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].line == 4);
}
