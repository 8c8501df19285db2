#include "llmlb/work/worker_log.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <random>

#include "llmlb/work/worker.hpp"

namespace llmlb::work {

WorkerLog::WorkerLog(util::Logger logger, bool live_table) : log_(logger) {
  if (live_table) {
    live_ = std::make_unique<LiveTable>(2);
  }
}

void WorkerLog::started(const std::string& worker_id, const WorkOptions& o) const {
  log_.write("info", "start",
             fmt::format("worker {} started: backend {}, {} max in flight{}", worker_id,
                         redact_url(o.backend_url), o.max_inflight_total,
                         o.models.empty() ? std::string()
                                          : fmt::format(", models {}", fmt::join(o.models, ","))),
             {util::str("worker", worker_id)});
}

void WorkerLog::stopping(StopReason reason, std::size_t in_flight) const {
  const std::string why(to_string(reason));
  log_.write("info", "stopping",
             fmt::format("stopping ({}): no new claims; {} in flight", why, in_flight),
             {util::str("reason", why), util::num("in_flight", static_cast<long long>(in_flight))});
}

void WorkerLog::rate_limited(const std::map<std::string, RateLimitNote>& limits) const {
  for (const auto& [model, rl] : limits) {
    log_.write("warn", "rate_limited",
               fmt::format("model {} answered 429 {} time(s); cooling down {:.1f}s", model,
                           rl.count, rl.retry_after_seconds),
               {util::str("model", model), util::num("count", static_cast<long long>(rl.count)),
                util::num("retry_after", rl.retry_after_seconds)});
  }
}

void WorkerLog::superseded(int superseded) const {
  if (superseded <= 0) {
    return;
  }
  log_.write("warn", "superseded",
             fmt::format("{} result(s) not written: the task changed since it was claimed (prompt "
                         "edited, or no longer unsolved)",
                         superseded),
             {util::num("superseded", static_cast<long long>(superseded))});
}

void WorkerLog::lost_leases(int lost) const {
  if (lost <= 0) {
    return;
  }
  log_.write(
      "warn", "lost_lease",
      fmt::format("{} result(s) not written: their lease had passed to another worker", lost),
      {util::num("lost", static_cast<long long>(lost))});
}

void WorkerLog::abandoning(std::size_t in_flight, bool forced) const {
  const auto n = static_cast<long long>(in_flight);
  if (forced) {
    log_.write("warn", "forced_stop",
               fmt::format("second signal: releasing {} task(s) and exiting now", n),
               {util::num("released", n)});
  } else {
    log_.write("warn", "drain_timeout",
               fmt::format("drain time is up; releasing {} task(s) still in flight", n),
               {util::num("released", n)});
  }
}

void WorkerLog::progress(const Totals& t, const Figures& figures, double window_seconds) {
  if (live_) {
    live_->draw(t, figures, window_seconds);
    return;
  }
  log_.write("info", "progress", "progress: " + format_progress(t, figures, window_seconds),
             {util::num("solved", t.solved), util::num("failed", t.failed),
              util::num("retried", t.retried), util::num("in_flight", t.in_flight),
              util::num("backlog", backlog(figures))});
}

void WorkerLog::summary(const WorkSummary& s, const std::vector<TaskResult>& unwritten) const {
  if (live_) {
    live_->finish();
  }
  const auto& t = s.totals;
  const std::string why(to_string(s.stop_reason));
  log_.write(s.exit_code == 0 ? "info" : "error", "summary",
             fmt::format("done in {:.1f}s ({}): claimed={} solved={} failed={} retried={} "
                         "released={} abandoned={} lost_leases={} unwritten={}",
                         s.seconds, why.empty() ? "stopped" : why, t.claimed, t.solved, t.failed,
                         t.retried, t.released, t.abandoned, t.lost, s.unwritten),
             {util::str("reason", why), util::num("seconds", s.seconds),
              util::num("claimed", t.claimed), util::num("solved", t.solved),
              util::num("failed", t.failed), util::num("retried", t.retried),
              util::num("released", t.released), util::num("abandoned", t.abandoned),
              util::num("lost_leases", t.lost), util::num("unwritten", s.unwritten)});
  if (s.unwritten <= 0) {
    return;
  }
  const auto answers = std::count_if(unwritten.begin(), unwritten.end(),
                                     [](const TaskResult& r) { return r.kind == ResultKind::ok; });
  log_.write("error", "unwritten",
             fmt::format("the database was unreachable: {} answer(s) could not be written ({} "
                         "results in all); those tasks will be solved again once their leases "
                         "expire",
                         answers, s.unwritten),
             {util::num("unwritten", s.unwritten),
              util::num("unwritten_answers", static_cast<long long>(answers))});
}

void raise_file_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string make_worker_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device rd;
  return fmt::format("{}:{}:{:06x}", host, ::getpid(), rd() & 0xffffffu);
}

}  // namespace llmlb::work
