#include "llmlb/models/limits.hpp"

#include <doctest/doctest.h>

using namespace llmlb::models;

TEST_CASE("validate accepts a full change") {
  LimitsChange c;
  c.name = "gpt-small";
  c.rpm = "120.5";
  c.burst = "5";
  c.max_inflight = "20";
  c.preference = "-3";
  c.enabled = false;
  auto v = validate(c);
  REQUIRE(v.ok());
  CHECK(*v->rpm == doctest::Approx(120.5));
  CHECK(*v->burst == 5);
  CHECK(*v->max_inflight == 20);
  CHECK(*v->preference == -3);
  CHECK(*v->enabled == false);
}

TEST_CASE("validate names the bad option") {
  LimitsChange c;
  c.name = "m";
  c.rpm = "-5";
  CHECK(validate(c).error().find("invalid --rpm '-5'") == 0);
  c.rpm = "abc";
  CHECK(validate(c).error().find("invalid --rpm 'abc'") == 0);
  c.rpm = "0";
  CHECK_FALSE(validate(c).ok());
  c.rpm = "60";
  c.burst = "0";
  CHECK(validate(c).error().find("invalid --burst") == 0);
  c.burst.reset();
  c.max_inflight = "2.5";
  CHECK(validate(c).error().find("invalid --max-inflight") == 0);
}

TEST_CASE("model names") {
  CHECK(check_model_name("m0").ok());
  CHECK(check_model_name("org/model:v1.2").ok());
  CHECK_FALSE(check_model_name("").ok());
  CHECK_FALSE(check_model_name("a b").ok());
  CHECK_FALSE(check_model_name("a,b").ok());
  CHECK_FALSE(check_model_name("tab\t").ok());
  CHECK_FALSE(check_model_name(std::string(201, 'x')).ok());
}

TEST_CASE("format_table and format_json") {
  ModelLimits m;
  m.name = "q\"x";
  m.rpm = 60;
  m.burst = 2;
  m.max_inflight = 3;
  m.updated_at = "2026-01-01T00:00:00Z";
  const auto table = format_table({m});
  CHECK(table.find("MODEL") == 0);
  CHECK(table.find("q\"x") != std::string::npos);
  CHECK(format_json({m}).find(R"("name":"q\"x")") != std::string::npos);
  CHECK(format_table({}).find("no models configured") != std::string::npos);
}

TEST_CASE("the derived burst is one second of rpm, from 1 to the --burst maximum") {
  using llmlb::models::default_burst;
  CHECK(default_burst(6) == 1);
  CHECK(default_burst(60) == 1);
  CHECK(default_burst(61) == 2);
  CHECK(default_burst(600) == 10);
  CHECK(default_burst(1e9) == llmlb::models::kMaxBurst);
}

TEST_CASE("model names must be valid UTF-8") {
  using llmlb::models::check_model_name;
  CHECK(check_model_name("gpt-small").ok());
  CHECK(check_model_name("modèle-ü").ok());
  CHECK_FALSE(check_model_name("m\xff").ok());
  CHECK_FALSE(check_model_name("m\xc3").ok());
  CHECK(check_model_name("m\xff").error().find("not valid UTF-8") != std::string::npos);
}
