#include "llmlb/work/write_back.hpp"

#include <thread>

#include "llmlb/work/health.hpp"

namespace llmlb::work {

std::optional<WriteCounts> write_back(DbLink& link, Dispatcher& calls, const WorkerLog& log,
                                      int max_attempts) {
  const auto kept = calls.results().size();
  const auto& limits = calls.rate_limits();
  if (!limits.empty()) {
    const bool ok = link.run("cooldown", kept, [&](Store& s) {
      for (const auto& [model, rl] : limits) {
        s.note_rate_limited(model, rl.retry_after_seconds, rl.count);
      }
    });
    if (!ok) {
      return std::nullopt;
    }
    log.rate_limited(limits);
    calls.rate_limits_written();
  }
  if (!write_health(link, calls, log.logger())) {  // issue 14: backend and model health first
    return std::nullopt;
  }
  if (!write_overload(link, calls, log.logger(), std::chrono::steady_clock::now())) {
    return std::nullopt;
  }
  if (calls.results().empty()) {
    return std::nullopt;
  }
  WriteCounts c;
  if (!link.run("write-back", kept,
                [&](Store& s) { c = s.complete(calls.results(), max_attempts); })) {
    return std::nullopt;
  }
  log.lost_leases(c.lost);
  log.superseded(c.superseded);
  calls.results_written();
  return c;
}

void write_remaining(DbLink& link, Dispatcher& calls, const WorkerLog& log, int max_attempts,
                     std::chrono::steady_clock::time_point give_up_at, Totals& totals) {
  using Clock = std::chrono::steady_clock;
  while ((!calls.results().empty() || !calls.rate_limits().empty()) && Clock::now() < give_up_at) {
    if (!link.up() && !link.try_reconnect(Clock::now(), calls.results().size())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (const auto c = write_back(link, calls, log, max_attempts)) {
      totals.add(*c);
    }
  }
}

void keep_alive(DbLink& link, const Dispatcher& calls, const Totals& totals, double lease_seconds) {
  const auto ids = calls.held_task_ids();
  link.run("heartbeat", calls.results().size(), [&](Store& s) {
    if (!ids.empty()) {
      s.renew(ids, lease_seconds);
    }
    s.heartbeat({static_cast<int>(calls.in_flight()), totals.solved, totals.failed, false});
  });
}

void sign_off(DbLink& link, const Totals& totals, bool swept) {
  if (!swept) {
    link.run("sweep", 0, [](Store& s) { s.sweep_if_due(); });
  }
  link.run("final heartbeat", 0, [&](Store& s) {
    s.heartbeat({0, totals.solved, totals.failed, true});
  });
}

}  // namespace llmlb::work
