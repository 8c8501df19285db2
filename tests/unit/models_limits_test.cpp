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

TEST_CASE("validate: token budgets (issue 17)") {
  LimitsChange c;
  c.name = "m";
  c.tpm = "90000";
  c.tpm_burst = "15000";
  c.bytes_per_token = "3.5";
  auto v = validate(c);
  REQUIRE(v.ok());
  CHECK(*v->tpm == doctest::Approx(90000));
  CHECK(*v->tpm_burst == 15000);
  CHECK(*v->bytes_per_token == doctest::Approx(3.5));
  CHECK_FALSE(v->clear_tpm);
  c.tpm = "none";
  c.tpm_burst = "default";
  v = validate(c);
  REQUIRE(v.ok());
  CHECK(v->clear_tpm);
  CHECK(v->clear_tpm_burst);
  CHECK_FALSE(v->tpm.has_value());
  for (const char* bad : {"0", "-1", "nan", "inf", "2e9", "0x10", " 5", ""}) {
    c.tpm = bad;
    CHECK(validate(c).error().find(std::string("invalid --tpm '") + bad + "'") == 0);
  }
  c.tpm = "600";
  for (const char* bad : {"0", "1.5", "2000000000", "x"}) {
    c.tpm_burst = bad;
    CHECK(validate(c).error().find(std::string("invalid --tpm-burst '") + bad + "'") == 0);
  }
  c.tpm_burst.reset();
  for (const char* bad : {"0", "0.4", "65", "four"}) {
    c.bytes_per_token = bad;
    CHECK(validate(c).error().find(std::string("invalid --bytes-per-token '") + bad + "'") == 0);
  }
}

TEST_CASE("format_table and format_json show token budgets only for models that have one") {
  ModelLimits plain;
  plain.name = "plain";
  plain.rpm = 60;
  ModelLimits t = plain;
  t.name = "t";
  t.tpm = 6000;
  t.tpm_capacity = 985;
  CHECK(format_table({plain}).find("TPM") == std::string::npos);
  CHECK(format_json({plain}).find("tpm") == std::string::npos);
  const auto table = format_table({plain, t});
  CHECK(table.find("TPM_BURST") != std::string::npos);
  CHECK(table.find("1000*") != std::string::npos);  // the default burst: 10 s of tpm
  const auto json = format_json({plain, t});
  CHECK(json.find(R"("tpm":6000.0,"tpm_burst":null,"tpm_capacity":985.0,"bytes_per_token":4.0)") !=
        std::string::npos);
}
