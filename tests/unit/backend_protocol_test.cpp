#include "llmlb/backend/protocol.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

using llmlb::backend::BatchItem;
using llmlb::backend::decode_batch;
using llmlb::backend::decode_single;
using llmlb::backend::encode_batch;
using llmlb::backend::encode_single;
using llmlb::backend::is_valid_utf8;
using llmlb::backend::Protocol;

namespace {

using namespace std::string_literals;

// Parses `json` with RapidJSON and returns the string member `field` of the root object.
std::string field_of(const std::string& json, const char* field) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember(field));
  REQUIRE(doc[field].IsString());
  return std::string(doc[field].GetString(), doc[field].GetStringLength());
}

// Every code point from U+0000 to U+10FFFF except surrogates, as UTF-8.
std::string all_code_points() {
  std::string out;
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      continue;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("protocol: UTF-8 validation") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("nul \0 inside"s));
  CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));                           // U+10FFFF
  CHECK(is_valid_utf8(all_code_points()));
  CHECK_FALSE(is_valid_utf8("\x80"));                  // lone continuation byte
  CHECK_FALSE(is_valid_utf8("\xC3"));                  // truncated
  CHECK_FALSE(is_valid_utf8("ab\xE2\x82"));            // truncated at the end
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));              // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));          // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));      // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));  // 5-byte form
  CHECK_FALSE(is_valid_utf8("\xFF"));
  CHECK_FALSE(is_valid_utf8("\xC3(x"));  // bad continuation
}

TEST_CASE("protocol: encode_single round-trips every kind of prompt exactly") {
  const Protocol p;
  const std::vector<std::string> prompts = {
      "",
      "hello",
      "quotes \" and backslashes \\ and slashes /",
      "controls \x01\x02\x1f\t\r\n\b\f and DEL \x7f"s,
      "nul \0 byte"s,
      "emoji \xF0\x9F\x98\x80 and \xE2\x80\xA8 line separator",
      all_code_points(),
      std::string(3 * 1024 * 1024, 'x') + "\"\\\n",
  };
  for (const std::string& prompt : prompts) {
    auto body = encode_single(p, "model-a", prompt);
    REQUIRE(body.ok());
    CHECK(field_of(*body, "prompt") == prompt);
    CHECK(field_of(*body, "model") == "model-a");
  }
  auto small = encode_single(p, "m", "a\"b\\c\nd\x01");
  REQUIRE(small.ok());
  CHECK(*small == R"({"model":"m","prompt":"a\"b\\c\nd\u0001"})");
}

TEST_CASE("protocol: encoding uses the configured field names") {
  Protocol p;
  p.model_field = "engine";
  p.prompt_field = "input text";
  p.requests_field = "jobs";
  auto single = encode_single(p, "m", "q");
  REQUIRE(single.ok());
  CHECK(*single == R"({"engine":"m","input text":"q"})");
  const std::vector<BatchItem> items = {{"m1", "q1"}, {"m2", "q\"2"}};
  auto batch = encode_batch(p, items);
  REQUIRE(batch.ok());
  CHECK(*batch ==
        R"({"jobs":[{"engine":"m1","input text":"q1"},{"engine":"m2","input text":"q\"2"}]})");
  auto empty = encode_batch(p, {});
  REQUIRE(empty.ok());
  CHECK(*empty == R"({"jobs":[]})");
}

TEST_CASE("protocol: invalid UTF-8 input fails encoding without quoting it") {
  const Protocol p;
  auto bad_prompt = encode_single(p, "m", "ok then \xC3");
  REQUIRE_FALSE(bad_prompt.ok());
  CHECK(bad_prompt.error() == "prompt is not valid UTF-8");
  auto bad_model = encode_single(p, "\xED\xA0\x80", "q");
  REQUIRE_FALSE(bad_model.ok());
  CHECK(bad_model.error() == "model name is not valid UTF-8");
  const std::vector<BatchItem> items = {{"m", "fine"}, {"m", "bad \xFF"}};
  auto batch = encode_batch(p, items);
  REQUIRE_FALSE(batch.ok());
  CHECK(batch.error() == "batch item #1: prompt is not valid UTF-8");
  Protocol weird;
  weird.prompt_field = "\x80";
  CHECK_FALSE(encode_single(weird, "m", "q").ok());
}

TEST_CASE("protocol: decode_single") {
  const Protocol p;
  auto ok = decode_single(p, R"({"answer":"4\n\"x\" \u00e9 \ud83d\ude00","other":1})");
  REQUIRE(ok.ok());
  CHECK(*ok == "4\n\"x\" \xC3\xA9 \xF0\x9F\x98\x80");

  auto empty_answer = decode_single(p, R"({"answer":""})");
  REQUIRE(empty_answer.ok());
  CHECK(empty_answer->empty());

  const std::string big(2 * 1024 * 1024, 'z');
  auto large = decode_single(p, "{\"answer\":\"" + big + "\"}");
  REQUIRE(large.ok());
  CHECK(*large == big);

  const std::string text = all_code_points().substr(1);  // minus U+0000, rejected in answers
  auto prompt = encode_single(p, "m", text);
  REQUIRE(prompt.ok());
  Protocol echo;
  echo.answer_field = "prompt";
  auto round = decode_single(echo, *prompt);
  REQUIRE(round.ok());
  CHECK(*round == text);
}

TEST_CASE("protocol: decode_single failures") {
  const Protocol p;
  const auto error_of = [&](std::string_view body) {
    auto r = decode_single(p, body);
    REQUIRE_FALSE(r.ok());
    return r.error();
  };
  CHECK(error_of("").rfind("response is not valid JSON: ", 0) == 0);
  CHECK(error_of("<html>502</html>").rfind("response is not valid JSON: ", 0) == 0);
  CHECK(error_of(R"({"answer":"x"} trailing)").rfind("response is not valid JSON: ", 0) == 0);
  CHECK(error_of("{\"answer\":\"bad \xC3(\"}").rfind("response is not valid JSON: ", 0) == 0);
  CHECK(error_of("{\"answer\":\"truncated \xE2\x82").rfind("response is not valid JSON", 0) == 0);
  CHECK(error_of(R"({"answer":NaN})").rfind("response is not valid JSON", 0) == 0);
  CHECK(error_of(R"(["answer"])") == "response is not a JSON object");
  CHECK(error_of(R"("answer")") == "response is not a JSON object");
  CHECK(error_of(R"({})") == "response has no string field 'answer'");
  CHECK(error_of(R"({"answer":42})") == "response has no string field 'answer'");
  CHECK(error_of(R"({"answer":null,"error":"x"})") == "response has no string field 'answer'");
  CHECK(error_of(R"({"Answer":"case matters"})") == "response has no string field 'answer'");
  CHECK(error_of(R"({"error":"model\noverloaded"})") ==
        "backend reported an error: model overloaded");
  CHECK(error_of(R"({"answer":"a\u0000b"})") == "answer contains a NUL character");
  CHECK(error_of(R"({"answer":"lone \udc00 low surrogate"})") == "answer is not valid UTF-8");
  CHECK(error_of(R"({"answer":"lone \ud800 high"})").rfind("response is not valid JSON", 0) == 0);
  // Deep nesting must not exhaust the stack.
  CHECK(error_of(std::string(200000, '[')).rfind("response is not valid JSON", 0) == 0);
  CHECK(error_of(std::string(100000, '[') + std::string(100000, ']')) ==
        "response is not a JSON object");
  CHECK(error_of("{\"answer\":\"x\"\0}"s).rfind("response is not valid JSON", 0) == 0);
}

TEST_CASE("protocol: decode_batch") {
  const Protocol p;
  auto r = decode_batch(p,
                        R"({"results":["plain",{"answer":"wrapped"},{"error":"overloaded"},)"
                        R"(7,{"answer":3},{"error":{"code":1}},null,"nul\u0000",{}]})",
                        9);
  REQUIRE(r.ok());
  const auto& items = *r;
  REQUIRE(items.size() == 9);
  CHECK(items[0].ok);
  CHECK(items[0].text == "plain");
  CHECK(items[1].ok);
  CHECK(items[1].text == "wrapped");
  CHECK_FALSE(items[2].ok);
  CHECK(items[2].text == "overloaded");
  CHECK_FALSE(items[3].ok);
  CHECK(items[3].text == "result is neither a string answer nor an error");
  CHECK_FALSE(items[4].ok);
  CHECK(items[4].text == "result is neither a string answer nor an error");
  CHECK_FALSE(items[5].ok);
  CHECK(items[5].text == "backend reported an error that is not a string");
  CHECK_FALSE(items[6].ok);
  CHECK_FALSE(items[7].ok);
  CHECK(items[7].text == "answer contains a NUL character");
  CHECK_FALSE(items[8].ok);

  auto empty = decode_batch(p, R"({"results":[]})", 0);
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  Protocol custom;
  custom.results_field = "out";
  custom.answer_field = "text";
  custom.error_field = "problem";
  auto named = decode_batch(custom, R"({"out":[{"text":"a"},{"problem":"b"}]})", 2);
  REQUIRE(named.ok());
  CHECK((*named)[0].ok);
  CHECK((*named)[0].text == "a");
  CHECK_FALSE((*named)[1].ok);
  CHECK((*named)[1].text == "b");
}

TEST_CASE("protocol: decode_batch failures") {
  const Protocol p;
  const auto error_of = [&](std::string_view body, std::size_t n) {
    auto r = decode_batch(p, body, n);
    REQUIRE_FALSE(r.ok());
    return r.error();
  };
  CHECK(error_of("nope", 1).rfind("response is not valid JSON", 0) == 0);
  CHECK(error_of("[]", 0) == "response is not a JSON object");
  CHECK(error_of(R"({"answer":"x"})", 1) == "response has no array field 'results'");
  CHECK(error_of(R"({"results":{"0":"x"}})", 1) == "response has no array field 'results'");
  CHECK(error_of(R"({"results":["a","b"]})", 3) == "response has 2 results for 3 requests");
  CHECK(error_of(R"({"results":["a","b"]})", 1) == "response has 2 results for 1 requests");
}
