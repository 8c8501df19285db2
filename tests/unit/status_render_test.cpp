// Status rendering (table, JSON, Prometheus) on fixture snapshots (no database).
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "llmlb/status/eta.hpp"
#include "llmlb/status/render.hpp"
#include "support/status_fixture.hpp"

using namespace llmlb::status;
using llmlb::status::testing::model;

namespace {

StatusSnapshot busy() {
  StatusSnapshot s;
  s.now = "2025-01-02T03:04:05Z";
  s.backlog.unpinned_waiting = 600;
  s.backlog.pinned_waiting = {{"fast", 60}, {"ghost", 7}};
  s.backlog.retry_waiting = 3;
  s.backlog.in_flight = 12;
  s.backlog.solved = 900;
  s.backlog.failed = 4;
  auto fast = model("fast", 600, 50);  // 10/s
  fast.waiting = 60;
  fast.in_flight = 10;
  fast.sent_last_window = 590;
  fast.calls = {2700, 200, 50, 50};
  fast.p50_ms = 850;
  fast.p95_ms = 2400;
  fast.mean_ms = 1000;
  auto slow = model("slow", 120, 2);  // 2/s by rate, 2 / 4 s = 0.5/s by max_inflight
  slow.mean_ms = 4000;
  slow.in_flight = 2;
  slow.cooldown_seconds = 12.4;
  slow.rate_factor = 0.5;
  slow.rate_limited_total = 3;
  ModelStatus ghost;
  ghost.name = "ghost";
  ghost.waiting = 7;
  s.models = {fast, slow, ghost};
  WorkerStatus w;
  w.id = "host1:123:abc";
  w.host = "host1";
  w.pid = 123;
  w.version = "0.1.0";
  w.in_flight = 12;
  w.solved = 900;
  w.failed = 4;
  w.uptime_seconds = 3725;
  w.heartbeat_age_seconds = 1.2;
  s.workers = {w};
  s.eta = compute_eta(s.backlog, s.models);
  return s;
}

}  // namespace

TEST_CASE("status table: backlog, ETA, models, outcomes, workers") {
  const auto s = busy();
  const auto t = render_status_table(s);
  CHECK(t.find("llmlb status at 2025-01-02T03:04:05Z") != std::string::npos);
  CHECK(t.find("waiting 667 (unpinned 600, pinned 67, 3 waiting for a retry)") !=
        std::string::npos);
  CHECK(t.find("in flight 12  solved 900  failed 4") != std::string::npos);
  // 660 drainable / (10 + 0.5) = 62.9 s; 60 pinned to fast: 6 s.
  CHECK(t.find("ETA       1m03s at the current limits (660 waiting") != std::string::npos);
  CHECK(t.find("7 task(s) will not drain: pinned to ghost (not configured)") != std::string::npos);
  CHECK(t.find("SENT/1m") != std::string::npos);
  CHECK(t.find("CALLS/5m") != std::string::npos);
  CHECK(t.find("cooldown") != std::string::npos);
  CHECK(t.find("12s") != std::string::npos);
  CHECK(t.find("50%") != std::string::npos);
  CHECK(t.find("10/50") != std::string::npos);
  CHECK(t.find("850ms") != std::string::npos);
  CHECK(t.find("2.40s") != std::string::npos);
  CHECK(t.find("90.0%") != std::string::npos);  // 2700 ok of 3000
  CHECK(t.find("\nghost  not configured") != std::string::npos);
  CHECK(t.find("Workers   1 live") != std::string::npos);
  CHECK(t.find("host1:123:abc") != std::string::npos);
  CHECK(t.find("1h02m") != std::string::npos);
  // Every line of a table has its columns aligned: same header and row widths are not
  // guaranteed, but no line has trailing spaces.
  std::istringstream lines(t);
  for (std::string line; std::getline(lines, line);) {
    CHECK((line.empty() || line.back() != ' '));
  }
}

TEST_CASE("status table: control characters in names cannot reach the terminal") {
  auto s = busy();
  s.models[2].name = "evil\x1b[2Jname";
  s.backlog.pinned_waiting = {{"evil\x1b[2Jname", 7}};
  s.eta = compute_eta(s.backlog, s.models);
  const auto t = render_status_table(s);
  CHECK(t.find('\x1b') == std::string::npos);
  CHECK(t.find("evil?[2Jname") != std::string::npos);
}

TEST_CASE("status on an empty database says so, in every format") {
  StatusSnapshot s;
  s.now = "2025-01-02T03:04:05Z";
  s.eta = compute_eta(s.backlog, s.models);
  CHECK(s.empty());
  CHECK(render_status_table(s).find("No tasks and no models yet") == 0);
  rapidjson::Document d;
  d.Parse(render_status_json(s).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["empty"].GetBool());
  CHECK(std::string(d["eta"]["state"].GetString()) == "empty");
  const auto p = render_status_prometheus(s);
  CHECK(p.find("llmlb_tasks_waiting 0\n") != std::string::npos);
  CHECK(p.find("nan") == std::string::npos);
  CHECK(p.find("inf") == std::string::npos);

  // Models but no tasks: a normal table, nothing waiting.
  s.models = {model("a", 60, 1)};
  s.eta = compute_eta(s.backlog, s.models);
  CHECK_FALSE(s.empty());
  const auto t = render_status_table(s);
  CHECK(t.find("ETA       nothing waiting") != std::string::npos);
  CHECK(t.find("  -       -") != std::string::npos);  // no calls: rates and latency are "-"
}

TEST_CASE("status JSON: stable keys, numbers, nulls for unknowns") {
  const auto s = busy();
  rapidjson::Document d;
  d.Parse(render_status_json(s).c_str());
  REQUIRE_FALSE(d.HasParseError());
  for (const char* key :
       {"now", "empty", "windows", "backlog", "models", "workers", "stale_workers", "eta"}) {
    CHECK_MESSAGE(d.HasMember(key), key);
  }
  const auto& b = d["backlog"];
  CHECK(b["waiting"].GetInt64() == 667);
  CHECK(b["unpinned_waiting"].GetInt64() == 600);
  CHECK(b["pinned_waiting"]["fast"].GetInt64() == 60);
  CHECK(b["in_flight"].GetInt64() == 12);
  CHECK(b["failed"].GetInt64() == 4);
  REQUIRE(d["models"].Size() == 3);
  const auto& fast = d["models"][0];
  CHECK(std::string(fast["name"].GetString()) == "fast");
  CHECK(fast["rpm"].GetDouble() == 600);
  CHECK(fast["calls"]["total"].GetInt64() == 3000);
  CHECK(fast["per_minute"]["ok"].GetDouble() == doctest::Approx(540));
  CHECK(fast["success_rate"].GetDouble() == doctest::Approx(0.9));
  CHECK(fast["error_rate"].GetDouble() == doctest::Approx(250.0 / 3000));
  CHECK(fast["latency_ms"]["p95"].GetDouble() == 2400);
  CHECK(fast["cooldown_seconds"].IsNull());
  CHECK(fast["capacity_per_second"].GetDouble() == doctest::Approx(10));
  const auto& slow = d["models"][1];
  CHECK(slow["cooldown_seconds"].GetDouble() == doctest::Approx(12.4));
  CHECK(slow["rate_factor"].GetDouble() == 0.5);
  CHECK(slow["success_rate"].IsNull());  // no calls
  CHECK(slow["latency_ms"]["p50"].IsNull());
  const auto& ghost = d["models"][2];
  CHECK_FALSE(ghost["configured"].GetBool());
  CHECK(ghost["rpm"].IsNull());
  CHECK(ghost["max_inflight"].IsNull());
  CHECK(d["workers"][0]["pid"].GetInt64() == 123);
  CHECK(std::string(d["eta"]["state"].GetString()) == "ok");
  CHECK(d["eta"]["seconds"].GetDouble() == doctest::Approx(660 / 10.5));
  CHECK(d["eta"]["stuck_tasks"].GetInt64() == 7);
}

TEST_CASE("status prometheus: HELP and TYPE once per family, escaped labels") {
  auto s = busy();
  s.models[2].name = "we\"ird\\name\nx";
  s.backlog.pinned_waiting = {{"fast", 60}, {s.models[2].name, 7}};
  s.eta = compute_eta(s.backlog, s.models);
  const auto p = render_status_prometheus(s);
  CHECK(p.find("llmlb_model_waiting{model=\"we\\\"ird\\\\name\\nx\"} 7\n") != std::string::npos);
  CHECK(p.find("llmlb_model_limit_rpm{model=\"fast\"} 600\n") != std::string::npos);
  CHECK(p.find("llmlb_model_latency_p95_seconds{model=\"fast\"} 2.4\n") != std::string::npos);
  CHECK(p.find("llmlb_model_calls_recent{model=\"fast\",outcome=\"transient\"} 200\n") !=
        std::string::npos);
  CHECK(p.find("llmlb_model_cooldown_seconds{model=\"slow\"} 12.4\n") != std::string::npos);
  CHECK(p.find("llmlb_model_rate_limited_total{model=\"slow\"} 3\n") != std::string::npos);
  CHECK(p.find("# TYPE llmlb_model_rate_limited_total counter\n") != std::string::npos);
  CHECK(p.find("llmlb_worker_in_flight{worker=\"host1:123:abc\",host=\"host1\"} 12\n") !=
        std::string::npos);
  CHECK(p.find("llmlb_eta_state{state=\"ok\"} 1\n") != std::string::npos);
  CHECK(p.find("llmlb_tasks_stuck 7\n") != std::string::npos);
  // Unconfigured models have no limit samples.
  CHECK(p.find("llmlb_model_limit_rpm{model=\"we") == std::string::npos);
  // Line by line: comments are HELP/TYPE, each family's TYPE comes once and before its samples,
  // and every sample is `name{labels} value` with a llmlb_ name.
  std::istringstream lines(p);
  std::vector<std::string> typed;
  for (std::string line; std::getline(lines, line);) {
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(std::find(typed.begin(), typed.end(), name) == typed.end());
      typed.push_back(name);
      continue;
    }
    CHECK(line.rfind("llmlb_", 0) == 0);
    const auto name = line.substr(0, line.find_first_of("{ "));
    REQUIRE_FALSE(typed.empty());
    CHECK(typed.back() == name);
  }
}
