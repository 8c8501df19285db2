#include "llmlb/db/worker_codec.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace llmlb::db;
using llmlb::work::CallFacts;
using llmlb::work::Endpoint;
using llmlb::work::Lease;
using llmlb::work::ModelNote;
using llmlb::work::ResultKind;
using llmlb::work::TaskResult;

TEST_CASE("text_array quotes and escapes; empty means NULL") {
  CHECK_FALSE(text_array({}).has_value());
  CHECK(*text_array({"a", "b\"c", "d\\e"}) == R"({"a","b\"c","d\\e"})");
}

TEST_CASE("every model note round-trips through its SQL text; unknown text is nullopt") {
  for (auto n : {ModelNote::rate, ModelNote::inflight, ModelNote::cooldown, ModelNote::idle,
                 ModelNote::full, ModelNote::more, ModelNote::suspended}) {
    CHECK(note_from_sql(to_sql(n)) == n);
  }
  CHECK_FALSE(note_from_sql("tpm").has_value());
  CHECK_FALSE(note_from_sql("").has_value());
  CHECK(to_sql(ResultKind::release) == "release");
  CHECK(to_sql(Endpoint::batch) == "batch");
}

TEST_CASE("encode_results writes what llmlb.complete reads") {
  Lease lease{7, 9, "m0", "2026-11-28 22:00:00.1+00", 0};
  CallFacts call;
  call.latency_ms = 12.5;
  const auto ok = TaskResult::solved(lease, "line\n\"quoted\" \xF0\x9F\x98\x80", call);
  auto bad = TaskResult::retry(Lease{8, 1, "m1", "", 2}, "HTTP 503", 1.5, CallFacts{});
  bad.call.sent = false;
  const auto rejected = TaskResult::rejected(Lease{10, 3, "m0", "", 0}, "prompt is empty");
  CallFacts batch;
  batch.endpoint = Endpoint::batch;
  const auto gone = TaskResult::abandoned(Lease{11, 4, "m0", "", 0}, batch);
  rapidjson::Document d;
  d.Parse(encode_results({ok, bad, rejected, gone}).c_str());
  REQUIRE(d.IsArray());
  REQUIRE(d.Size() == 4);
  CHECK(d[0]["id"].GetInt64() == 7);
  CHECK(d[0]["token"].GetInt64() == 9);
  CHECK(std::string(d[0]["outcome"].GetString()) == "ok");
  CHECK(std::string(d[0]["answer"].GetString()) == ok.answer);
  CHECK(std::string(d[0]["claimed_at"].GetString()) == lease.claimed_at);
  CHECK(d[0]["sent"].GetBool());
  CHECK_FALSE(d[1].HasMember("answer"));
  CHECK_FALSE(d[1].HasMember("claimed_at"));
  CHECK(std::string(d[1]["outcome"].GetString()) == "transient");
  CHECK(d[1]["retry_seconds"].GetDouble() == doctest::Approx(1.5));
  CHECK_FALSE(d[1]["sent"].GetBool());
  CHECK(std::string(d[2]["outcome"].GetString()) == "permanent");
  CHECK(std::string(d[2]["error_class"].GetString()) == "bad_prompt");
  CHECK_FALSE(d[2]["sent"].GetBool());
  CHECK(std::string(d[3]["outcome"].GetString()) == "release");
  CHECK(std::string(d[3]["error_class"].GetString()) == "abandoned");
  CHECK(std::string(d[3]["endpoint"].GetString()) == "batch");
  CHECK(d[3]["sent"].GetBool());
}

TEST_CASE("encode_results carries sizes and reported usage for the token settlement") {
  CallFacts call;
  call.prompt_bytes = 40;
  call.answer_bytes = 12;
  call.usage.completion_tokens = 9;
  const auto ok = TaskResult::solved(Lease{7, 9, "m0", "", 0}, "answer", call);
  CallFacts failed_call;
  failed_call.prompt_bytes = 40;
  failed_call.http_status = 503;
  const auto bad = TaskResult::retry(Lease{8, 1, "m0", "", 0}, "HTTP 503", 1, failed_call);
  rapidjson::Document d;
  d.Parse(encode_results({ok, bad}).c_str());
  REQUIRE(d.IsArray());
  CHECK(d[0]["prompt_bytes"].GetUint64() == 40);
  CHECK(d[0]["answer_bytes"].GetUint64() == 12);
  CHECK(d[0]["completion_tokens"].GetInt64() == 9);
  CHECK_FALSE(d[0].HasMember("prompt_tokens"));
  CHECK(d[1]["prompt_bytes"].GetUint64() == 40);
  CHECK_FALSE(d[1].HasMember("answer_bytes"));
  CHECK_FALSE(d[1].HasMember("completion_tokens"));
}
