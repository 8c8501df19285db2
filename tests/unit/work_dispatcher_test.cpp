#include "llmlb/work/dispatcher.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace llmlb::work;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  WorkOptions opt;
  std::vector<llmlb::http::Request> sent;
  double jitter = 0.0;
  Dispatcher::Clock::time_point t0{};

  Fixture() {
    opt.backend_url = "http://127.0.0.1:9/";
    opt.backoff_base = 1000ms;
    opt.backoff_max = 60000ms;
    opt.max_prompt_bytes = 32;
  }
  Dispatcher make() {
    return Dispatcher(
        opt, [this](llmlb::http::Request r) { sent.push_back(std::move(r)); },
        [this] { return jitter; });
  }
};

ClaimedTask task(std::int64_t id, std::string model, std::string prompt, int attempts = 0) {
  return ClaimedTask{Lease{id, 100 + id, std::move(model), "2026-12-01 10:00:00+00", attempts},
                     std::move(prompt)};
}

llmlb::http::Response reply(std::uint64_t tag, long status, std::string body) {
  llmlb::http::Response r;
  r.tag = tag;
  r.transport_ok = true;
  r.status = status;
  r.body = std::move(body);
  r.elapsed = 250ms;
  return r;
}

}  // namespace

TEST_CASE("single: one request per task, to the backend's single path") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "hello"));
  tasks.push_back(task(2, "m1", "world"));
  d.dispatch(std::move(tasks), f.t0, f.t0 + 3ms);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].url == "http://127.0.0.1:9/single");
  CHECK(f.sent[0].body.find("\"hello\"") != std::string::npos);
  CHECK(f.sent[0].tag != f.sent[1].tag);
  CHECK(d.in_flight() == 2);
  CHECK(d.results().empty());
  CHECK(d.held_task_ids().size() == 2);
}

TEST_CASE("a response becomes a result under the task's own lease; the task leaves in-flight") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(7, "m0", "hi"));
  d.dispatch(std::move(tasks), f.t0, f.t0 + 4ms);
  d.on_response(reply(f.sent.at(0).tag, 200, R"({"answer": "hello back"})"));
  CHECK(d.in_flight() == 0);
  REQUIRE(d.results().size() == 1);
  const auto& r = d.results()[0];
  CHECK(r.kind == ResultKind::ok);
  CHECK(r.answer == "hello back");
  CHECK(r.lease.task_id == 7);
  CHECK(r.lease.token == 107);
  CHECK(r.call.send_offset_ms == doctest::Approx(4.0));
  CHECK(r.call.latency_ms == doctest::Approx(250.0));
  CHECK(r.call.sent);
  // Results keep their leases until written.
  CHECK(d.held_task_ids() == std::vector<std::int64_t>{7});
  d.results_written();
  CHECK(d.held_task_ids().empty());
  // A second response for the same tag (or an unknown one) changes nothing.
  d.on_response(reply(f.sent.at(0).tag, 200, R"({"answer": "again"})"));
  CHECK(d.results().empty());
}

TEST_CASE("transient failures retry with backoff from the task's attempts; 4xx fails") {
  Fixture f;
  f.jitter = 0.999;  // the top of the jitter range: the full exponential delay
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "a", 2));
  tasks.push_back(task(2, "m0", "b"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  d.on_response(reply(f.sent[0].tag, 503, "busy"));
  d.on_response(reply(f.sent[1].tag, 400, "bad request"));
  REQUIRE(d.results().size() == 2);
  CHECK(d.results()[0].kind == ResultKind::transient);
  CHECK(d.results()[0].retry_seconds == doctest::Approx(4.0).epsilon(0.01));  // 1s * 2^2
  CHECK(d.results()[0].call.http_status == 503);
  CHECK(d.results()[1].kind == ResultKind::permanent);
  CHECK(d.results()[1].call.error_class == "http_4xx");
}

TEST_CASE("429 notes the model's cooldown with the longest Retry-After") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "a"));
  tasks.push_back(task(2, "m0", "b"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  auto r1 = reply(f.sent[0].tag, 429, "slow down");
  r1.retry_after_s = 7.0;
  d.on_response(r1);
  d.on_response(reply(f.sent[1].tag, 429, "slow down"));
  REQUIRE(d.rate_limits().count("m0") == 1);
  CHECK(d.rate_limits().at("m0").count == 2);
  CHECK(d.rate_limits().at("m0").retry_after_seconds == doctest::Approx(7.0));
  CHECK(d.results()[0].retry_seconds >= 7.0);
  d.rate_limits_written();
  CHECK(d.rate_limits().empty());
}

TEST_CASE("prompts that cannot be sent are rejected at once, unsent") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "  \n\t"));
  tasks.push_back(task(2, "m0", std::string(33, 'x')));
  tasks.push_back(task(3, "m0", std::string("bad \xff utf8")));
  tasks.push_back(task(4, "m0", "fine"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  CHECK(f.sent.size() == 1);
  REQUIRE(d.results().size() == 3);
  for (const auto& r : d.results()) {
    CHECK(r.kind == ResultKind::permanent);
    CHECK_FALSE(r.call.sent);
    CHECK(r.call.error_class == "bad_prompt");
  }
  CHECK(d.results()[1].error.find("over --max-prompt-bytes 32") != std::string::npos);
}

TEST_CASE("batch: groups per model up to batch_size; results in request order") {
  Fixture f;
  f.opt.endpoint = Endpoint::batch;
  f.opt.batch_size = 2;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  for (int i = 1; i <= 3; ++i) {
    tasks.push_back(task(i, "m0", "p" + std::to_string(i)));
  }
  tasks.push_back(task(9, "m1", "q"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  REQUIRE(f.sent.size() == 3);  // m0: 2 + 1, m1: 1
  CHECK(f.sent[0].url == "http://127.0.0.1:9/batch");
  d.on_response(reply(f.sent[0].tag, 200, R"({"results": [{"answer": "a1"}, {"answer": "a2"}]})"));
  REQUIRE(d.results().size() == 2);
  CHECK(d.results()[0].lease.task_id == 1);
  CHECK(d.results()[0].answer == "a1");
  CHECK(d.results()[1].answer == "a2");
  CHECK(d.results()[1].call.endpoint == Endpoint::batch);
}

TEST_CASE("abandon_all releases every task in flight, logged as abandoned calls") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "a"));
  tasks.push_back(task(2, "m0", "b"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  d.on_response(reply(f.sent[0].tag, 200, R"({"answer": "x"})"));
  CHECK(d.abandon_all() == 1);
  CHECK(d.in_flight() == 0);
  REQUIRE(d.results().size() == 2);
  CHECK(d.results()[1].kind == ResultKind::release);
  CHECK(d.results()[1].call.error_class == "abandoned");
  CHECK(d.results()[1].call.sent);
  // The abandoned call's late response is ignored.
  d.on_response(reply(f.sent[1].tag, 200, R"({"answer": "late"})"));
  CHECK(d.results().size() == 2);
}

TEST_CASE("a task claimed again while its old call is in flight: the new lease wins") {
  // A worker paused past its lease: its own next claim took the task back with a new token and
  // sent it again. The old call's late answer is recorded under the old token (the database
  // refuses it as lost); the new call's answer is written under the new token.
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> first;
  first.push_back(task(7, "m0", "hi"));
  d.dispatch(std::move(first), f.t0, f.t0 + 1ms);
  std::vector<ClaimedTask> again;
  again.push_back(task(7, "m0", "hi"));
  again[0].lease.token = 900;
  d.dispatch(std::move(again), f.t0 + 5s, f.t0 + 5s);
  REQUIRE(f.sent.size() == 2);
  CHECK(d.in_flight() == 1);
  const auto held = d.held_task_ids();
  REQUIRE(held.size() == 1);
  CHECK(held[0] == 7);

  SUBCASE("old answer first") {
    d.on_response(reply(f.sent[0].tag, 200, R"({"answer": "old"})"));
    REQUIRE(d.results().size() == 1);
    CHECK(d.results()[0].lease.token == 107);
    CHECK(d.results()[0].answer == "old");
    CHECK(d.in_flight() == 1);  // the new call is still in flight, under the new lease
    d.results_written();
    d.on_response(reply(f.sent[1].tag, 200, R"({"answer": "new"})"));
    REQUIRE(d.results().size() == 1);
    CHECK(d.results()[0].lease.token == 900);
    CHECK(d.results()[0].answer == "new");
    CHECK(d.in_flight() == 0);
  }
  SUBCASE("new answer first") {
    d.on_response(reply(f.sent[1].tag, 200, R"({"answer": "new"})"));
    REQUIRE(d.results().size() == 1);
    CHECK(d.results()[0].lease.token == 900);
    CHECK(d.in_flight() == 0);
    d.on_response(reply(f.sent[0].tag, 200, R"({"answer": "old"})"));
    REQUIRE(d.results().size() == 2);
    CHECK(d.results()[1].lease.token == 107);
  }
  SUBCASE("abandoning covers both calls") {
    CHECK(d.abandon_all() == 1);
    REQUIRE(d.results().size() == 2);
    CHECK(d.results()[0].kind == ResultKind::release);
    CHECK(d.results()[1].kind == ResultKind::release);
    CHECK(d.results()[0].lease.token + d.results()[1].lease.token == 1007);
    d.on_response(reply(f.sent[0].tag, 200, R"({"answer": "old"})"));
    CHECK(d.results().size() == 2);
  }
}

TEST_CASE("a connection lost after the request was sent is a transient call, not re-sent") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(3, "m0", "hi"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  llmlb::http::Response r;
  r.tag = f.sent.at(0).tag;
  r.transport_ok = false;
  r.reset_after_send = true;
  r.transport_error = "connection lost after the request was sent; not re-sent";
  d.on_response(r);
  REQUIRE(d.results().size() == 1);
  CHECK(d.results()[0].kind == ResultKind::transient);
  CHECK(d.results()[0].call.error_class == "reset_after_send");
  CHECK(d.results()[0].call.sent);
  CHECK(f.sent.size() == 1);
}

TEST_CASE("overload notes: answers with their latency, timeouts, 503/529; due at once or later") {
  Fixture f;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  for (int i = 1; i <= 5; ++i) {
    tasks.push_back(task(i, "m0", "p"));
  }
  tasks[4].lease.claimed_at = "2026-12-01 10:00:00.5+00";
  tasks.push_back(task(6, "m1", "q"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  auto ok = reply(f.sent[0].tag, 200, R"({"answer": "a"})");
  d.on_response(ok);
  ok.tag = f.sent[1].tag;
  ok.elapsed = 350ms;
  d.on_response(ok);
  llmlb::http::Response timeout;
  timeout.tag = f.sent[2].tag;
  timeout.timed_out = true;
  timeout.elapsed = 500ms;
  timeout.transport_error = "timed out";
  d.on_response(timeout);
  d.on_response(reply(f.sent[3].tag, 503, "busy"));
  d.on_response(reply(f.sent[4].tag, 529, "overloaded"));
  d.on_response(reply(f.sent[5].tag, 200, R"({"answer": "b"})"));

  const auto& n = d.overload().at("m0");
  CHECK(n.ok == 2);
  CHECK(n.timeouts == 1);
  CHECK(n.overloaded == 2);
  CHECK(n.latency_ms.size() == 3);  // the answers and the timed-out call
  CHECK(n.median_latency_ms() == doctest::Approx(350.0));
  CHECK(n.latest_claimed_at == "2026-12-01 10:00:00.5+00");
  CHECK(n.urgent());
  // m0 has a timeout: due at once; m1 has only an answer: due once, then every interval.
  auto due = d.overload_due(f.t0, 250ms);
  CHECK(due == std::vector<std::string>{"m0", "m1"});
  d.overload_written("m0", f.t0);
  d.overload_written("m1", f.t0);
  CHECK(d.overload().empty());
  std::vector<ClaimedTask> more;
  more.push_back(task(7, "m1", "r"));
  d.dispatch(std::move(more), f.t0, f.t0);
  d.on_response(reply(f.sent.back().tag, 200, R"({"answer": "c"})"));
  CHECK(d.overload_due(f.t0 + 100ms, 250ms).empty());
  CHECK(d.overload_due(f.t0 + 250ms, 250ms) == std::vector<std::string>{"m1"});
  // A single 503 is not urgent; a second one is.
  d.overload_written("m1", f.t0 + 250ms);
  std::vector<ClaimedTask> two;
  two.push_back(task(40, "m1", "x"));
  two.push_back(task(41, "m1", "y"));
  d.dispatch(std::move(two), f.t0, f.t0);
  d.on_response(reply(f.sent[f.sent.size() - 2].tag, 503, "busy"));
  CHECK(d.overload_due(f.t0 + 260ms, 250ms).empty());
  d.on_response(reply(f.sent.back().tag, 503, "busy"));
  CHECK(d.overload_due(f.t0 + 260ms, 250ms) == std::vector<std::string>{"m1"});
}

TEST_CASE("overload notes are not kept with overload protection off") {
  Fixture f;
  f.opt.overload_protection = false;
  auto d = f.make();
  std::vector<ClaimedTask> tasks;
  tasks.push_back(task(1, "m0", "p"));
  d.dispatch(std::move(tasks), f.t0, f.t0);
  d.on_response(reply(f.sent[0].tag, 503, "busy"));
  CHECK(d.overload().empty());
  CHECK(d.overload_due(f.t0, 250ms).empty());
}

TEST_CASE("overload note median: odd, even, empty") {
  OverloadNote n;
  CHECK(n.median_latency_ms() == 0.0);
  n.latency_ms = {300, 100, 200};
  CHECK(n.median_latency_ms() == doctest::Approx(200.0));
  n.latency_ms = {400, 100, 300, 200};
  CHECK(n.median_latency_ms() == doctest::Approx(250.0));
}
