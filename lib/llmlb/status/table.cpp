#include <fmt/format.h>
#include <algorithm>
#include <cmath>

#include "llmlb/status/eta.hpp"
#include "llmlb/status/render.hpp"
#include "llmlb/util/human.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::status {

using util::compact_number;
using util::human_latency;
using util::human_seconds;
using util::percent;
using util::window_label;

namespace {

/// A name read from the database, safe in a terminal table (same width, no control bytes).
std::string printable(std::string_view text) {
  return util::sanitize(text, {util::Controls::mark});
}

std::string state_of(const ModelStatus& m) {
  if (!m.configured) {
    return "not configured";
  }
  if (!m.enabled) {
    return "disabled";
  }
  if (m.suspended_since) {
    return "suspended";
  }
  return m.cooldown_seconds ? "cooldown" : "serving";
}

std::string stuck_reason(const StatusSnapshot& s, const std::string& name) {
  for (const auto& m : s.models) {
    if (m.name == name) {
      return m.configured ? "disabled" : "not configured";
    }
  }
  return "not configured";
}

/// Pads every column of `rows` to its widest cell; the first column is left-aligned and the
/// others right-aligned, except those listed in `left`.
std::string columns(const std::vector<std::vector<std::string>>& rows,
                    const std::vector<std::size_t>& left) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const bool to_left = i == 0 || std::find(left.begin(), left.end(), i) != left.end();
      if (i > 0) {
        line += "  ";
      }
      line += to_left ? fmt::format("{:<{}}", row[i], width[i])
                      : fmt::format("{:>{}}", row[i], width[i]);
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  }
  return out;
}

std::string per_minute(long long count, double window_seconds) {
  return window_seconds > 0 ? compact_number(static_cast<double>(count) * 60.0 / window_seconds)
                            : "-";
}

}  // namespace

std::string describe_eta(const StatusSnapshot& s) {
  switch (s.eta.state) {
    case EtaState::ok: {
      double capacity = 0;
      for (const auto& m : s.models) {
        capacity += model_capacity(m);
      }
      return fmt::format("{} at the current limits ({} waiting, capacity {} tasks/s)",
                         human_seconds(s.eta.seconds.value_or(0)),
                         s.backlog.waiting() - s.eta.stuck_tasks, compact_number(capacity));
    }
    case EtaState::empty:
      return "nothing waiting";
    case EtaState::no_enabled_model:
      return "none: no enabled model (llmlb limits set MODEL --rpm N --enable)";
    case EtaState::no_capacity:
      if (s.eta.stuck_tasks > 0 && s.eta.stuck_tasks == s.backlog.waiting()) {
        return "none: every waiting task is pinned to a model that does not serve it";
      }
      return "none: no capacity for the waiting tasks";
    case EtaState::cooldown:
      return fmt::format(
          "none: every model that can take the waiting tasks is cooling down after 429s; the "
          "first resumes in {}",
          human_seconds(s.eta.resumes_in_seconds.value_or(0)));
  }
  return "-";
}

std::string render_status_table(const StatusSnapshot& s) {
  if (s.empty()) {
    std::string out =
        "No tasks and no models yet. Add a model with `llmlb limits set MODEL --rpm N` and "
        "enqueue tasks with `llmlb enqueue`.\n";
    if (!s.workers.empty()) {
      out += fmt::format("{} live worker(s) are waiting for work.\n", s.workers.size());
    }
    return out;
  }
  const auto& b = s.backlog;
  std::string out = fmt::format("llmlb status at {} (database clock)\n\n", s.now);
  long long pinned = 0;
  for (const auto& [name, n] : b.pinned_waiting) {
    pinned += n;
  }
  std::string waiting_detail = fmt::format("unpinned {}, pinned {}", b.unpinned_waiting, pinned);
  if (b.retry_waiting > 0) {
    waiting_detail += fmt::format(", {} waiting for a retry", b.retry_waiting);
  }
  if (b.expired_leases > 0) {
    waiting_detail += fmt::format(", {} with an expired lease", b.expired_leases);
  }
  out += fmt::format("Backlog   waiting {} ({})  in flight {}  solved {}  failed {}\n", b.waiting(),
                     waiting_detail, b.in_flight, b.solved, b.failed);
  if (b.cancelled > 0) {
    out += fmt::format("          cancelled {}\n", b.cancelled);
  }
  out += fmt::format("ETA       {}\n", describe_eta(s));
  if (s.eta.stuck_tasks > 0) {
    std::vector<std::string> names;
    for (const auto& name : s.eta.stuck_models) {
      names.push_back(fmt::format("{} ({})", printable(name), stuck_reason(s, name)));
    }
    out += fmt::format("          {} task(s) will not drain: pinned to {}\n", s.eta.stuck_tasks,
                       fmt::join(names, ", "));
  }
  if (s.backend.unreachable_since) {
    out +=
        fmt::format("Backend   unreachable since {} ({}): {}; no task is claimed, next try in {}\n",
                    *s.backend.unreachable_since, human_seconds(s.backend.unreachable_seconds),
                    printable(s.backend.last_error), human_seconds(s.backend.retry_in_seconds));
  }
  for (const auto& m : s.models) {
    if (m.suspended_since) {
      out += fmt::format(
          "Suspended {} since {}: {}; probed every {}, `llmlb limits set {} --enable` resumes "
          "it\n",
          printable(m.name), *m.suspended_since, printable(m.suspend_reason),
          human_seconds(m.probe_interval_seconds), printable(m.name));
    }
  }
  for (const auto& m : s.models) {
    if (m.configured && m.overloaded()) {
      out += fmt::format(
          "Overload  {}: at most {} of {} calls in flight ({}); rises again while it keeps up\n",
          printable(m.name), m.effective_max_inflight, m.max_inflight,
          printable(m.overload_reason.empty() ? "overloaded" : m.overload_reason));
    }
  }
  out += "\n";
  if (s.models.empty()) {
    out += "No models configured; add one with `llmlb limits set MODEL --rpm N`.\n";
  } else {
    const std::string sent_head = fmt::format("SENT/{}", window_label(s.windows.rate_seconds));
    std::vector<std::vector<std::string>> rows{{"MODEL", "STATE", "RPM", "BURST", "MAX INFLIGHT",
                                                sent_head, "IN FLIGHT", "WAITING", "COOLDOWN",
                                                "RATE"}};
    for (const auto& m : s.models) {
      if (!m.configured) {
        rows.push_back({printable(m.name), state_of(m), "-", "-", "-", "-", "-",
                        std::to_string(m.waiting), "-", "-"});
        continue;
      }
      rows.push_back(
          {printable(m.name), state_of(m), compact_number(m.rpm), std::to_string(m.burst),
           std::to_string(m.max_inflight), std::to_string(m.sent_last_window),
           m.overloaded()
               ? fmt::format("{}/{} of {}", m.in_flight, m.effective_max_inflight, m.max_inflight)
               : fmt::format("{}/{}", m.in_flight, m.max_inflight),
           std::to_string(m.waiting), m.cooldown_seconds ? human_seconds(*m.cooldown_seconds) : "-",
           fmt::format("{:.0f}%", 100.0 * m.rate_factor)});
    }
    out += columns(rows, {1});
    out += "\n";
    // Issue 17: token budgets, only for the models that have one.
    std::vector<std::vector<std::string>> tokens{
        {"MODEL", "TPM", "TPM BURST", "BUCKET", "OUT EST",
         fmt::format("TOKENS/{}", window_label(s.windows.rate_seconds))}};
    for (const auto& m : s.models) {
      if (m.configured && m.tpm) {
        tokens.push_back({printable(m.name), compact_number(*m.tpm), compact_number(m.tpm_capacity),
                          compact_number(std::floor(m.tpm_level.value_or(m.tpm_capacity))),
                          m.out_estimate ? compact_number(std::ceil(*m.out_estimate)) : "-",
                          std::to_string(m.tokens_last_window)});
      }
    }
    if (tokens.size() > 1) {
      out += columns(tokens, {});
      out += "\n";
    }
    const std::string window = window_label(s.windows.outcome_seconds);
    std::vector<std::vector<std::string>> calls{{"MODEL", fmt::format("CALLS/{}", window), "OK/MIN",
                                                 "TRANSIENT/MIN", "PERMANENT/MIN", "OK%", "ERROR%",
                                                 "P50", "P95"}};
    for (const auto& m : s.models) {
      if (!m.configured) {
        continue;
      }
      const auto& c = m.calls;
      calls.push_back({printable(m.name), std::to_string(c.total()),
                       per_minute(c.ok, s.windows.outcome_seconds),
                       per_minute(c.transient, s.windows.outcome_seconds),
                       per_minute(c.permanent, s.windows.outcome_seconds), percent(c.ok, c.total()),
                       percent(c.transient + c.permanent, c.total()), human_latency(m.p50_ms),
                       human_latency(m.p95_ms)});
    }
    if (calls.size() > 1) {
      out += columns(calls, {});
      out += "\n";
    }
  }
  out += fmt::format("Workers   {} live", s.workers.size());
  if (s.stale_workers > 0) {
    out += fmt::format(", {} silent for over {} (crashed or unreachable?)", s.stale_workers,
                       human_seconds(s.windows.heartbeat_seconds));
  }
  out += "\n";
  if (!s.workers.empty()) {
    std::vector<std::vector<std::string>> rows{
        {"ID", "HOST", "PID", "IN FLIGHT", "SOLVED", "FAILED", "UP", "LAST BEAT"}};
    for (const auto& w : s.workers) {
      rows.push_back({printable(w.id), printable(w.host), std::to_string(w.pid),
                      std::to_string(w.in_flight), std::to_string(w.solved),
                      std::to_string(w.failed), human_seconds(w.uptime_seconds),
                      human_seconds(w.heartbeat_age_seconds) + " ago"});
    }
    out += columns(rows, {1});
  }
  return out;
}

}  // namespace llmlb::status
