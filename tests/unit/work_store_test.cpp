#include "llmlb/work/store.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace llmlb::work;

TEST_CASE("text_array quotes and escapes; empty means NULL") {
  CHECK_FALSE(text_array({}).has_value());
  CHECK(*text_array({"a", "b\"c", "d\\e"}) == R"({"a","b\"c","d\\e"})");
}

TEST_CASE("encode_results writes what llmlb.complete reads") {
  TaskResult ok;
  ok.id = 7;
  ok.token = 9;
  ok.model = "m0";
  ok.outcome = "ok";
  ok.answer = "line\n\"quoted\" \xF0\x9F\x98\x80";
  ok.claimed_at = "2026-11-28 22:00:00.1+00";
  TaskResult bad;
  bad.id = 8;
  bad.outcome = "transient";
  bad.error = "HTTP 503";
  bad.retry_seconds = 1.5;
  bad.sent = false;
  rapidjson::Document d;
  d.Parse(encode_results({ok, bad}).c_str());
  REQUIRE(d.IsArray());
  REQUIRE(d.Size() == 2);
  CHECK(d[0]["id"].GetInt64() == 7);
  CHECK(std::string(d[0]["answer"].GetString()) == ok.answer);
  CHECK(d[0]["sent"].GetBool());
  CHECK_FALSE(d[1].HasMember("answer"));
  CHECK(d[1]["retry_seconds"].GetDouble() == doctest::Approx(1.5));
  CHECK_FALSE(d[1]["sent"].GetBool());
}
