#include "llmlb/backend/outcome.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using llmlb::backend::classify_batch;
using llmlb::backend::classify_single;
using llmlb::backend::is_valid_utf8;
using llmlb::backend::Outcome;
using llmlb::backend::OutcomeKind;
using llmlb::backend::Protocol;
using llmlb::http::Response;

namespace {

Response http(long status, std::string body, std::optional<double> retry_after = std::nullopt) {
  Response r;
  r.tag = 5;
  r.transport_ok = true;
  r.status = status;
  r.body = std::move(body);
  r.retry_after_s = retry_after;
  return r;
}

Response transport(std::string error) {
  Response r;
  r.transport_ok = false;
  r.transport_error = std::move(error);
  return r;
}

}  // namespace

TEST_CASE("outcome: a 2xx with an answer is ok") {
  const Protocol p;
  const Outcome o = classify_single(p, http(200, R"({"answer":"forty-two"})"));
  CHECK(o.kind == OutcomeKind::ok);
  CHECK(o.answer == "forty-two");
  CHECK(o.error.empty());
  CHECK(o.http_status == 200);
  CHECK_FALSE(o.rate_limited);
  CHECK(o.error_class == "ok");
  CHECK(classify_single(p, http(201, R"({"answer":"0"})")).kind == OutcomeKind::ok);
}

TEST_CASE("outcome: HTTP statuses") {
  const Protocol p;
  SUBCASE("429 is transient and rate limited") {
    const Outcome o = classify_single(p, http(429, "slow down", 12.5));
    CHECK(o.kind == OutcomeKind::transient);
    CHECK(o.rate_limited);
    REQUIRE(o.retry_after_s.has_value());
    CHECK(*o.retry_after_s == 12.5);
    CHECK(o.http_status == 429);
    CHECK(o.error == "HTTP 429: slow down");
    CHECK(o.error_class == "http_429");
    CHECK(o.answer.empty());
  }
  SUBCASE("5xx is transient; the body is cut to 200 characters on one line") {
    const std::string body = "Service\r\nUnavailable\t" + std::string(500, 'x');
    const Outcome o = classify_single(p, http(503, body, 3));
    CHECK(o.kind == OutcomeKind::transient);
    CHECK_FALSE(o.rate_limited);
    CHECK(o.retry_after_s == 3.0);
    CHECK(o.error_class == "http_5xx");
    CHECK(o.error == "HTTP 503: Service Unavailable " + std::string(180, 'x') + "...");
    CHECK(classify_single(p, http(500, "")).error == "HTTP 500");
    CHECK(classify_single(p, http(599, "")).kind == OutcomeKind::transient);
  }
  SUBCASE("other 4xx are permanent") {
    for (long status : {400L, 401L, 403L, 404L, 413L, 422L, 499L}) {
      const Outcome o = classify_single(p, http(status, R"({"answer":"ignored"})"));
      CHECK(o.kind == OutcomeKind::permanent);
      CHECK(o.error_class == "http_4xx");
      CHECK(o.answer.empty());
      CHECK(o.error == "HTTP " + std::to_string(status) + R"(: {"answer":"ignored"})");
    }
  }
  SUBCASE("1xx, 3xx and odd statuses are transient") {
    for (long status : {101L, 301L, 304L, 600L, 0L}) {
      const Outcome o = classify_single(p, http(status, ""));
      CHECK(o.kind == OutcomeKind::transient);
      CHECK(o.error_class == "http_other");
    }
  }
  SUBCASE("error bodies with NUL or invalid UTF-8 are made storable") {
    const Outcome o = classify_single(p, http(502, std::string("bad\0gate\xFF", 9)));
    CHECK(o.error == "HTTP 502: bad gate\xEF\xBF\xBD");
    CHECK(is_valid_utf8(o.error));
  }
}

TEST_CASE("outcome: a 2xx with an unusable body is transient bad_body") {
  const Protocol p;
  for (const char* body : {"", "not json", R"({"answer":7})", R"({"result":"x"})",
                           R"({"answer":"a\u0000b"})", R"(["answer"])"}) {
    const Outcome o = classify_single(p, http(200, body));
    CHECK(o.kind == OutcomeKind::transient);
    CHECK(o.error_class == "bad_body");
    CHECK(o.error.rfind("HTTP 200 with a bad body: ", 0) == 0);
    CHECK(o.answer.empty());
  }
  CHECK(classify_single(p, http(200, R"({"answer":"a\u0000b"})")).error ==
        "HTTP 200 with a bad body: answer contains a NUL character");
}

TEST_CASE("outcome: transport failures are transient") {
  const Protocol p;
  Response refused = transport("connection refused");
  refused.connect_failed = true;
  Outcome o = classify_single(p, refused);
  CHECK(o.kind == OutcomeKind::transient);
  CHECK(o.error == "connection refused");
  CHECK(o.error_class == "connect");
  CHECK(o.http_status == 0);

  Response timeout = transport("timed out after 180000 ms");
  timeout.timed_out = true;
  timeout.connect_failed = true;  // a connect timeout is still counted as a timeout
  o = classify_single(p, timeout);
  CHECK(o.kind == OutcomeKind::transient);
  CHECK(o.error == "timed out after 180000 ms");
  CHECK(o.error_class == "timeout");

  Response big = transport("response larger than 16 bytes");
  big.too_large = true;
  o = classify_single(p, big);
  CHECK(o.kind == OutcomeKind::transient);
  CHECK(o.error_class == "too_large");

  Response cancelled = transport("cancelled");
  cancelled.cancelled = true;
  CHECK(classify_single(p, cancelled).error_class == "cancelled");

  o = classify_single(p, transport("connection reset by peer"));
  CHECK(o.kind == OutcomeKind::transient);
  CHECK(o.error_class == "transport");
  CHECK(o.error == "connection reset by peer");

  CHECK(classify_single(p, transport("")).error == "transport error");
}

TEST_CASE("outcome: classify_batch") {
  const Protocol p;
  SUBCASE("per-item results") {
    const auto outcomes = classify_batch(
        p, http(200, R"({"results":["a",{"error":"model busy"},{"answer":"c"}]})"), 3);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].kind == OutcomeKind::ok);
    CHECK(outcomes[0].answer == "a");
    CHECK(outcomes[1].kind == OutcomeKind::transient);
    CHECK(outcomes[1].error == "backend error: model busy");
    CHECK(outcomes[1].error_class == "item_error");
    CHECK(outcomes[1].http_status == 200);
    CHECK(outcomes[2].kind == OutcomeKind::ok);
    CHECK(outcomes[2].answer == "c");
  }
  SUBCASE("a whole-call failure applies to every item") {
    const auto outcomes = classify_batch(p, http(429, "later", 30), 4);
    REQUIRE(outcomes.size() == 4);
    for (const Outcome& o : outcomes) {
      CHECK(o.kind == OutcomeKind::transient);
      CHECK(o.rate_limited);
      CHECK(o.retry_after_s == 30.0);
      CHECK(o.error == "HTTP 429: later");
    }
    const auto refused = classify_batch(p, transport("connection refused"), 2);
    REQUIRE(refused.size() == 2);
    CHECK(refused[1].error == "connection refused");
    const auto gone = classify_batch(p, http(404, "no such path"), 2);
    REQUIRE(gone.size() == 2);
    CHECK(gone[0].kind == OutcomeKind::permanent);
  }
  SUBCASE("a wrong-length or malformed body fails every item") {
    const auto outcomes = classify_batch(p, http(200, R"({"results":["a"]})"), 2);
    REQUIRE(outcomes.size() == 2);
    for (const Outcome& o : outcomes) {
      CHECK(o.kind == OutcomeKind::transient);
      CHECK(o.error_class == "bad_body");
      CHECK(o.error == "HTTP 200 with a bad body: response has 1 results for 2 requests");
    }
    CHECK(classify_batch(p, http(200, "{"), 3).size() == 3);
  }
  SUBCASE("no items") {
    CHECK(classify_batch(p, http(200, "garbage"), 0).empty());
  }
}

TEST_CASE("outcome: an empty or blank answer is transient unless accepted") {
  Protocol p;
  for (const char* body :
       {R"({"answer":""})", R"({"answer":"  \n\t "})", "{\"answer\":\"\u00a0\u3000\"}"}) {
    CAPTURE(body);
    const Outcome o = classify_single(p, http(200, body));
    CHECK(o.kind == OutcomeKind::transient);
    CHECK(o.error_class == "bad_body");
    CHECK(o.error == "HTTP 200 with a bad body: empty answer");
  }
  const auto batch = classify_batch(p, http(200, R"({"results":["", {"answer":" "}, "x"]})"), 3);
  REQUIRE(batch.size() == 3);
  CHECK(batch[0].kind == OutcomeKind::transient);
  CHECK(batch[0].error == "backend error: empty answer");
  CHECK(batch[1].kind == OutcomeKind::transient);
  CHECK(batch[2].kind == OutcomeKind::ok);
  p.accept_empty_answers = true;
  const Outcome o = classify_single(p, http(200, R"({"answer":" "})"));
  CHECK(o.kind == OutcomeKind::ok);
  CHECK(o.answer == " ");
  CHECK(classify_batch(p, http(200, R"({"results":[""]})"), 1)[0].kind == OutcomeKind::ok);
}

TEST_CASE("outcome: 408, 409 and 425 are transient; other 4xx stay permanent") {
  const Protocol p;
  for (long status : {408L, 409L, 425L}) {
    CAPTURE(status);
    const Outcome o = classify_single(p, http(status, "later"));
    CHECK(o.kind == OutcomeKind::transient);
    CHECK_FALSE(o.rate_limited);
  }
  for (long status : {400L, 401L, 403L, 404L, 410L, 422L}) {
    CAPTURE(status);
    CHECK(classify_single(p, http(status, "no")).kind == OutcomeKind::permanent);
  }
}

TEST_CASE("outcome: Retry-After is cut to max_retry_after") {
  Protocol p;
  CHECK(*classify_single(p, http(429, "", 999999999.0)).retry_after_s == 600.0);
  CHECK(*classify_single(p, http(503, "", 1e9)).retry_after_s == 600.0);
  CHECK(*classify_single(p, http(429, "", 30.0)).retry_after_s == 30.0);
  CHECK(*classify_single(p, http(200, R"({"answer":"a"})", 1e9)).retry_after_s == 600.0);
  CHECK_FALSE(classify_single(p, http(429, "")).retry_after_s.has_value());
  p.max_retry_after = std::chrono::seconds(5);
  CHECK(*classify_single(p, http(429, "", 1e9)).retry_after_s == 5.0);
  for (const auto& o : classify_batch(p, http(429, "", 7200.0), 3)) {
    CHECK(*o.retry_after_s == 5.0);
  }
}

TEST_CASE("outcome: error texts never hold the backend token or an Authorization value") {
  Protocol p;
  const std::string token = "sk-live-0123456789abcdef";
  p.secrets = {token};
  const std::string echoes[] = {
      "invalid credentials for Authorization: Bearer " + token,
      R"({"detail":"bad token","headers":{"authorization":"Bearer )" + token + R"("}})",
      "token " + token + " revoked",
      "authorization='Basic dXNlcjpwYXNz' rejected",
      "Bearer someoneelses-token.ABC_123 is not valid",
      // The token near the 200-character cut: no piece of it may survive the cut.
      std::string(190, 'x') + " " + token,
  };
  for (const auto& body : echoes) {
    CAPTURE(body);
    for (long status : {401L, 403L, 500L, 429L}) {
      const Outcome o = classify_single(p, http(status, body));
      CHECK(o.error.find(token) == std::string::npos);
      CHECK(o.error.find("sk-live") == std::string::npos);
      CHECK(o.error.find("dXNlcjpwYXNz") == std::string::npos);
      CHECK(o.error.find("someoneelses") == std::string::npos);
    }
    const auto items = classify_batch(
        p, http(200, R"({"results":[{"error":")" + body.substr(0, 120) + R"("}]})"), 1);
    CHECK(items[0].error.find("sk-live") == std::string::npos);
  }
  const Outcome bad = classify_single(p, http(200, R"({"error":"Bearer )" + token + R"("})"));
  CHECK(bad.error.find(token) == std::string::npos);
  const Outcome o401 =
      classify_single(p, http(401, "invalid credentials for Authorization: Bearer " + token));
  CHECK(o401.error == "HTTP 401: invalid credentials for Authorization: ***");
  CHECK(o401.kind == OutcomeKind::permanent);
}

TEST_CASE("redact_secrets and is_blank") {
  using llmlb::backend::is_blank;
  using llmlb::backend::redact_secrets;
  CHECK(redact_secrets("Bearer abc.def", {}) == "Bearer ***");
  CHECK(redact_secrets("BEARER  abc", {}) == "BEARER  ***");
  CHECK(redact_secrets("bearers of news", {}) == "bearers of news");
  CHECK(redact_secrets("Authorization: Token t1, next", {}) == "Authorization: ***, next");
  CHECK(redact_secrets("s3cr3t-token and s3cr3t-token", {"s3cr3t-token", ""}) == "*** and ***");
  CHECK(redact_secrets("cut here s3cr...", {"s3cr3t-token"}) == "cut here ***...");
  CHECK(redact_secrets("no secret here", {"s3cr3t-token"}) == "no secret here");
  CHECK(is_blank(""));
  CHECK(is_blank(" \t\r\n"));
  CHECK(is_blank("\xC2\xA0\xE3\x80\x80"));
  CHECK_FALSE(is_blank(" a "));
  CHECK_FALSE(is_blank("\xFF"));
}

TEST_CASE("outcome: usage reported by the backend (issue 17)") {
  Protocol p;
  auto ok = classify_single(
      p, http(200, R"({"answer":"a","usage":{"prompt_tokens":12,"completion_tokens":30.4}})"));
  REQUIRE(ok.kind == OutcomeKind::ok);
  CHECK(*ok.usage.prompt_tokens == 12);
  CHECK(*ok.usage.completion_tokens == 30);
  auto none = classify_single(p, http(200, R"({"answer":"a"})"));
  CHECK_FALSE(none.usage.prompt_tokens.has_value());
  CHECK_FALSE(none.usage.completion_tokens.has_value());
  // Not a number, negative or huge: not reported.
  auto odd = classify_single(
      p, http(200, R"({"answer":"a","usage":{"prompt_tokens":"12","completion_tokens":-1}})"));
  CHECK_FALSE(odd.usage.prompt_tokens.has_value());
  CHECK_FALSE(odd.usage.completion_tokens.has_value());
  CHECK_FALSE(classify_single(p, http(200, R"({"answer":"a","usage":{"prompt_tokens":1e12}})"))
                  .usage.prompt_tokens.has_value());
  // An HTTP error's body may report what the call took; a transport failure reports nothing.
  auto err = classify_single(p, http(500, R"({"error":"x","usage":{"prompt_tokens":7}})"));
  CHECK(err.kind == OutcomeKind::transient);
  CHECK(*err.usage.prompt_tokens == 7);
  CHECK_FALSE(classify_single(p, http(503, "not json")).usage.prompt_tokens.has_value());
  CHECK_FALSE(classify_single(p, transport("timed out")).usage.prompt_tokens.has_value());
  // Configured paths; an empty path is never looked up.
  Protocol custom;
  custom.usage_prompt_path = "meta.tokens.in";
  custom.usage_completion_path = "";
  auto c = classify_single(
      custom,
      http(200, R"({"answer":"a","meta":{"tokens":{"in":3}},"usage":{"completion_tokens":4}})"));
  CHECK(*c.usage.prompt_tokens == 3);
  CHECK_FALSE(c.usage.completion_tokens.has_value());
  // Batch: each result object's own usage.
  auto b = classify_batch(
      p,
      http(200, R"({"results":[{"answer":"x","usage":{"prompt_tokens":1,"completion_tokens":2}},)"
                R"("y",{"error":"e","usage":{"prompt_tokens":5}}]})"),
      3);
  REQUIRE(b.size() == 3);
  CHECK(*b[0].usage.completion_tokens == 2);
  CHECK_FALSE(b[1].usage.prompt_tokens.has_value());
  CHECK(b[2].kind == OutcomeKind::transient);
  CHECK(*b[2].usage.prompt_tokens == 5);
}
