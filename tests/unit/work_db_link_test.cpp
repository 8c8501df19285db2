#include "llmlb/work/db_link.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace llmlb::work;
using namespace std::chrono_literals;

namespace {

/// A store whose connection can be made to fail; only reconnect() matters here.
struct FakeStore : Store {
  bool reachable = true;
  int reconnects = 0;
  void reconnect() override {
    ++reconnects;
    if (!reachable) {
      throw llmlb::DatabaseError("connection refused");
    }
  }
  void require_current_schema() override {}
  ClaimResult claim(const ClaimRequest&) override { return {}; }
  int sweep_if_due() override { return 0; }
  WriteCounts complete(const std::vector<TaskResult>&, int) override { return {}; }
  void note_rate_limited(const std::string&, double, int) override {}
  int renew(const std::vector<std::int64_t>&, double) override { return 0; }
  void heartbeat(const Heartbeat&) override {}
  bool has_pending_work(const std::vector<std::string>&) override { return false; }
  Figures figures(double) override { return {}; }
};

}  // namespace

TEST_CASE("a lost connection takes the link down; it comes back on reconnect") {
  FakeStore store;
  llmlb::util::Logger quiet(llmlb::util::LogFormat::text, -1);
  DbLink link(store, 60s, quiet);
  CHECK(link.run("claim", 0, [](Store&) {}));
  CHECK_FALSE(link.run("claim", 3, [](Store&) { throw llmlb::DatabaseUnavailable("gone"); }));
  CHECK_FALSE(link.up());
  bool ran = false;
  CHECK_FALSE(link.run("claim", 0, [&](Store&) { ran = true; }));
  CHECK_FALSE(ran);  // nothing runs while down
  const auto now = DbLink::Clock::now();
  CHECK_FALSE(link.try_reconnect(link.next_attempt() - 1ms));  // not due yet
  CHECK(store.reconnects == 0);
  CHECK(link.try_reconnect(std::max(now, link.next_attempt())));
  CHECK(link.up());
  CHECK(store.reconnects == 1);
}

TEST_CASE("other database errors propagate; the link stays up") {
  FakeStore store;
  llmlb::util::Logger quiet(llmlb::util::LogFormat::text, -1);
  DbLink link(store, 60s, quiet);
  CHECK_THROWS_AS(link.run("claim", 0, [](Store&) { throw llmlb::DatabaseError("syntax"); }),
                  llmlb::DatabaseError);
  CHECK(link.up());
}

TEST_CASE("reconnection backs off and gives up after the retry timeout") {
  FakeStore store;
  store.reachable = false;
  llmlb::util::Logger quiet(llmlb::util::LogFormat::text, -1);
  DbLink link(store, 1s, quiet);
  link.run("claim", 0, [](Store&) { throw llmlb::DatabaseUnavailable("gone"); });
  auto t = link.next_attempt();
  auto previous_gap = 0ms;
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(link.try_reconnect(t));
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(link.next_attempt() - t);
    CHECK(gap > previous_gap);  // 200, 400, 800, ... ms
    previous_gap = gap;
    t = link.next_attempt();
  }
  CHECK(link.gave_up());
  CHECK(store.reconnects == 5);
}
