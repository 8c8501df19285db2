#include <fmt/format.h>
#include <cmath>
#include <deque>
#include <utility>
#include <vector>

#include "llmlb/status/eta.hpp"
#include "llmlb/status/render.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::status {

using util::prometheus_label;

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One metric family: its samples are printed together under one HELP and one TYPE line.
struct Family {
  std::string name, type, help;
  std::vector<std::pair<Labels, double>> samples;

  void add(Labels labels, double value) {
    if (std::isfinite(value)) {
      samples.emplace_back(std::move(labels), value);
    }
  }
};

std::string value_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

std::string print(const std::deque<Family>& families) {
  std::string out;
  for (const auto& f : families) {
    if (f.samples.empty()) {
      continue;
    }
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (const auto& [labels, value] : f.samples) {
      out += f.name;
      if (!labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < labels.size(); ++i) {
          out += fmt::format("{}{}=\"{}\"", i > 0 ? "," : "", labels[i].first,
                             prometheus_label(labels[i].second));
        }
        out += '}';
      }
      out += ' ' + value_text(value) + '\n';
    }
  }
  return out;
}

Labels model_label(const std::string& name) {
  return {{"model", name}};
}

}  // namespace

std::string render_status_prometheus(const StatusSnapshot& s) {
  const auto& b = s.backlog;
  const auto& win = s.windows;
  std::deque<Family> f;  // a deque: the references family() hands out stay valid
  auto family = [&](const char* name, const char* type, std::string help) -> Family& {
    f.push_back(Family{name, type, std::move(help), {}});
    return f.back();
  };
  family("llmlb_tasks_waiting", "gauge", "Unsolved tasks not in flight.")
      .add({}, double(b.waiting()));
  family("llmlb_tasks_waiting_unpinned", "gauge", "Waiting tasks that any model may answer.")
      .add({}, double(b.unpinned_waiting));
  family("llmlb_tasks_retry_waiting", "gauge", "Waiting tasks held back until their retry time.")
      .add({}, double(b.retry_waiting));
  family("llmlb_tasks_in_flight", "gauge", "Tasks leased by a worker with a live lease.")
      .add({}, double(b.in_flight));
  family("llmlb_tasks_solved", "gauge", "Tasks with status solved.").add({}, double(b.solved));
  family("llmlb_tasks_failed", "gauge", "Tasks with status failed.").add({}, double(b.failed));

  auto& waiting = family("llmlb_model_waiting", "gauge", "Waiting tasks pinned to the model.");
  auto& configured = family("llmlb_model_configured", "gauge",
                            "1 if the model has limits in llmlb.models, 0 if tasks name it only.");
  auto& enabled = family("llmlb_model_enabled", "gauge", "1 if the model is enabled.");
  auto& rpm = family("llmlb_model_limit_rpm", "gauge", "Configured requests per minute.");
  auto& burst = family("llmlb_model_limit_burst", "gauge", "Configured burst.");
  auto& max_inflight =
      family("llmlb_model_limit_max_inflight", "gauge", "Configured calls in flight at once.");
  auto& sent = family("llmlb_model_requests_recent", "gauge",
                      fmt::format("Requests sent in the last {} seconds (finished calls and live "
                                  "leases).",
                                  value_text(win.rate_seconds)));
  auto& in_flight = family("llmlb_model_in_flight", "gauge", "Live leases on the model.");
  auto& calls = family("llmlb_model_calls_recent", "gauge",
                       fmt::format("Calls sent in the last {} seconds, by outcome.",
                                   value_text(win.outcome_seconds)));
  auto& abandoned = family(
      "llmlb_model_calls_abandoned_recent", "gauge",
      fmt::format("Calls of the last {} seconds given up while in flight (part of outcome other).",
                  value_text(win.outcome_seconds)));
  auto& p50 =
      family("llmlb_model_latency_p50_seconds", "gauge", "Median latency of recent ok calls.");
  auto& p95 = family("llmlb_model_latency_p95_seconds", "gauge",
                     "95th percentile latency of recent ok calls.");
  auto& cooldown = family("llmlb_model_cooldown_seconds", "gauge",
                          "Seconds left in the model's 429 cooldown (0 when none).");
  auto& factor = family("llmlb_model_rate_factor", "gauge",
                        "Share of the configured rate currently allowed after 429s (1 = full).");
  auto& limited =
      family("llmlb_model_rate_limited_total", "counter", "429 answers recorded for the model.");
  auto& capacity = family("llmlb_model_capacity_tasks_per_second", "gauge",
                          "Tasks per second the model can take at its current limits.");
  auto& suspended = family("llmlb_model_suspended", "gauge",
                           "1 while the model is suspended (model-level errors), else 0.");
  auto& suspended_info =
      family("llmlb_model_suspended_info", "gauge", "1 for a suspended model, with the reason.");
  auto& effective = family("llmlb_model_effective_max_inflight", "gauge",
                           "Calls in flight the model may have now: max_inflight, or less while "
                           "overload protection has lowered it.");
  auto& overloads = family("llmlb_model_overloads_total", "counter",
                           "Times overload protection lowered the model's calls in flight.");
  // Issue 17: token budgets (only models with tpm have samples).
  auto& tpm = family("llmlb_model_limit_tpm", "gauge", "Configured tokens per minute.");
  auto& tpm_cap = family("llmlb_model_tpm_capacity_tokens", "gauge",
                         "Depth of the model's token bucket (its token burst).");
  auto& tpm_level =
      family("llmlb_model_tpm_bucket_tokens", "gauge", "Tokens in the model's bucket now.");
  auto& out_est = family("llmlb_model_output_token_estimate", "gauge",
                         "Completion tokens reserved per task without max_tokens.");
  auto& tokens_recent = family("llmlb_model_tokens_recent", "gauge",
                               fmt::format("Tokens of the calls sent in the last {} seconds "
                                           "(settled, else reserved).",
                                           value_text(win.rate_seconds)));
  for (const auto& m : s.models) {
    if (m.configured && m.tpm) {
      const auto l = model_label(m.name);
      tpm.add(l, *m.tpm);
      tpm_cap.add(l, m.tpm_capacity);
      tpm_level.add(l, m.tpm_level.value_or(m.tpm_capacity));
      if (m.out_estimate) {
        out_est.add(l, *m.out_estimate);
      }
      tokens_recent.add(l, double(m.tokens_last_window));
    }
  }
  for (const auto& m : s.models) {
    const auto l = model_label(m.name);
    waiting.add(l, double(m.waiting));
    configured.add(l, m.configured ? 1 : 0);
    if (!m.configured) {
      continue;
    }
    enabled.add(l, m.enabled ? 1 : 0);
    rpm.add(l, m.rpm);
    burst.add(l, m.burst);
    max_inflight.add(l, m.max_inflight);
    effective.add(l, m.inflight_limit());
    overloads.add(l, double(m.overload_total));
    sent.add(l, double(m.sent_last_window));
    in_flight.add(l, double(m.in_flight));
    calls.add({{"model", m.name}, {"outcome", "ok"}}, double(m.calls.ok));
    calls.add({{"model", m.name}, {"outcome", "transient"}}, double(m.calls.transient));
    calls.add({{"model", m.name}, {"outcome", "permanent"}}, double(m.calls.permanent));
    calls.add({{"model", m.name}, {"outcome", "other"}}, double(m.calls.other));
    abandoned.add(l, double(m.calls.abandoned));
    if (m.p50_ms) {
      p50.add(l, *m.p50_ms / 1000.0);
    }
    if (m.p95_ms) {
      p95.add(l, *m.p95_ms / 1000.0);
    }
    cooldown.add(l, m.cooldown_seconds.value_or(0));
    factor.add(l, m.rate_factor);
    limited.add(l, double(m.rate_limited_total));
    capacity.add(l, model_capacity(m));
    suspended.add(l, m.suspended_since ? 1 : 0);
    if (m.suspended_since) {
      suspended_info.add({{"model", m.name}, {"reason", m.suspend_reason}}, 1);
    }
  }
  family("llmlb_backend_unreachable", "gauge",
         "1 while workers find the backend unreachable (no task is claimed), else 0.")
      .add({}, s.backend.unreachable_since ? 1 : 0);
  if (s.backend.unreachable_since) {
    family("llmlb_backend_unreachable_seconds", "gauge",
           "How long the backend has been unreachable.")
        .add({}, s.backend.unreachable_seconds);
  }

  family("llmlb_workers_live", "gauge", "Workers that sent a heartbeat recently.")
      .add({}, double(s.workers.size()));
  family("llmlb_workers_stale", "gauge", "Workers neither stopped nor heard from recently.")
      .add({}, double(s.stale_workers));
  auto& w_in_flight = family("llmlb_worker_in_flight", "gauge", "Calls in flight in the worker.");
  auto& w_solved = family("llmlb_worker_solved_total", "counter", "Tasks the worker solved.");
  auto& w_failed = family("llmlb_worker_failed_total", "counter", "Tasks the worker failed.");
  for (const auto& w : s.workers) {
    const Labels l{{"worker", w.id}, {"host", w.host}};
    w_in_flight.add(l, double(w.in_flight));
    w_solved.add(l, double(w.solved));
    w_failed.add(l, double(w.failed));
  }

  auto& eta = family("llmlb_eta_seconds", "gauge",
                     "Seconds to drain the waiting tasks at the current limits (absent when "
                     "there is no estimate).");
  if (s.eta.seconds) {
    eta.add({}, *s.eta.seconds);
  }
  auto& state = family("llmlb_eta_state", "gauge", "1 for the current ETA state.");
  for (auto st : {EtaState::ok, EtaState::empty, EtaState::no_enabled_model, EtaState::no_capacity,
                  EtaState::cooldown}) {
    state.add({{"state", to_string(st)}}, s.eta.state == st ? 1 : 0);
  }
  family("llmlb_tasks_stuck", "gauge",
         "Waiting tasks pinned to models that are disabled or not configured.")
      .add({}, double(s.eta.stuck_tasks));
  return print(f);
}

}  // namespace llmlb::status
