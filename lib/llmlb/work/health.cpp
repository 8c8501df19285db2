#include "llmlb/work/health.hpp"

#include <fmt/format.h>

namespace llmlb::work {

bool write_health(DbLink& link, Dispatcher& calls, const util::Logger& log) {
  const auto kept = calls.results().size();
  if (const auto& error = calls.unreachable()) {
    double wait = 0;
    if (!link.run("unreachable", kept, [&](Store& s) { wait = s.note_unreachable(*error); })) {
      return false;
    }
    log.write("warn", "backend_unreachable",
              fmt::format("backend unreachable ({}); no task claimed for {:.1f}s, no attempt "
                          "counted",
                          *error, wait),
              {util::str("error", *error), util::num("backoff", wait)});
    calls.unreachable_written();
  }
  if (calls.reachable_again()) {
    bool ended = false;
    if (!link.run("reachable", kept, [&](Store& s) { ended = s.note_reachable(); })) {
      return false;
    }
    if (ended) {
      log.write("info", "backend_reachable", "backend reachable again");
    }
    calls.reachable_written();
  }
  if (calls.health().empty()) {
    return true;
  }
  std::map<std::string, ModelHealth> said;
  if (!link.run("model health", kept, [&](Store& s) {
        said.clear();
        for (const auto& [model, note] : calls.health()) {
          said[model] = s.note_model_health(model, note);
        }
      })) {
    return false;
  }
  for (const auto& [model, h] : said) {
    if (h.suspended) {
      const auto released = calls.release_failures_of(model);
      if (h.changed) {
        log.write("warn", "model_suspended",
                  fmt::format("model {} suspended: {}; its tasks are released, no attempt counted "
                              "({} now)",
                              model, h.reason, released),
                  {util::str("model", model), util::str("reason", h.reason)});
      }
    } else if (h.changed) {
      log.write("info", "model_resumed", fmt::format("model {} answered again: resumed", model),
                {util::str("model", model)});
    }
  }
  calls.health_written();
  return true;
}

bool write_overload(DbLink& link, Dispatcher& calls, const util::Logger& log,
                    std::chrono::steady_clock::time_point now) {
  const double latency_ratio = calls.options().overload_latency_ratio;
  const double timeout_ms =
      std::chrono::duration<double, std::milli>(calls.options().request_timeout).count();
  const auto due = calls.overload_due(now, std::chrono::milliseconds(250));
  if (due.empty()) {
    return true;
  }
  std::map<std::string, OverloadState> said;
  if (!link.run("overload report", calls.results().size(), [&](Store& s) {
        said.clear();
        for (const auto& model : due) {
          said[model] =
              s.note_overload(model, calls.overload().at(model), timeout_ms, latency_ratio);
        }
      })) {
    return false;
  }
  for (const auto& [model, o] : said) {
    if (o.lowered) {
      log.write("warn", "model_overloaded",
                fmt::format("model {} cannot keep up ({}): at most {} calls in flight, of {} "
                            "configured, rising again while it keeps up",
                            model, o.reason, o.effective, o.configured),
                {util::str("model", model), util::str("reason", o.reason),
                 util::num("effective_max_inflight", static_cast<long long>(o.effective)),
                 util::num("max_inflight", static_cast<long long>(o.configured))});
    }
    calls.overload_written(model, now);
  }
  return true;
}

}  // namespace llmlb::work
