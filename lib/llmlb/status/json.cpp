#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <cmath>

#include "llmlb/status/eta.hpp"
#include "llmlb/status/render.hpp"

namespace llmlb::status {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

void num(Writer& w, double v) {
  if (std::isfinite(v)) {
    w.Double(v);
  } else {
    w.Null();
  }
}

void opt(Writer& w, const std::optional<double>& v) {
  if (v) {
    num(w, *v);
  } else {
    w.Null();
  }
}

/// An integer limit, or null for a model without configuration.
void limit(Writer& w, bool configured, int v) {
  if (configured) {
    w.Int(v);
  } else {
    w.Null();
  }
}

void opt_str(Writer& w, const std::optional<std::string>& v) {
  if (v) {
    str(w, *v);
  } else {
    w.Null();
  }
}

/// count / total as a fraction in [0, 1], or null without calls.
void ratio(Writer& w, long long part, long long total) {
  if (total > 0) {
    w.Double(static_cast<double>(part) / static_cast<double>(total));
  } else {
    w.Null();
  }
}

void backlog(Writer& w, const Backlog& b) {
  w.Key("backlog");
  w.StartObject();
  w.Key("waiting");
  w.Int64(b.waiting());
  w.Key("unpinned_waiting");
  w.Int64(b.unpinned_waiting);
  w.Key("pinned_waiting");
  w.StartObject();
  for (const auto& [name, n] : b.pinned_waiting) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.Int64(n);
  }
  w.EndObject();
  w.Key("retry_waiting");
  w.Int64(b.retry_waiting);
  w.Key("expired_leases");
  w.Int64(b.expired_leases);
  w.Key("in_flight");
  w.Int64(b.in_flight);
  w.Key("solved");
  w.Int64(b.solved);
  w.Key("failed");
  w.Int64(b.failed);
  w.Key("cancelled");
  w.Int64(b.cancelled);
  w.EndObject();
}

void model(Writer& w, const ModelStatus& m, const StatusWindows& win) {
  w.StartObject();
  w.Key("name");
  str(w, m.name);
  w.Key("configured");
  w.Bool(m.configured);
  w.Key("enabled");
  w.Bool(m.enabled);
  w.Key("rpm");
  opt(w, m.configured ? std::optional<double>(m.rpm) : std::nullopt);
  w.Key("burst");
  limit(w, m.configured, m.burst);
  w.Key("max_inflight");
  limit(w, m.configured, m.max_inflight);
  w.Key("preference");
  limit(w, m.configured, m.preference);
  w.Key("waiting");
  w.Int64(m.waiting);
  w.Key("in_flight");
  w.Int64(m.in_flight);
  w.Key("sent_last_window");
  w.Int64(m.sent_last_window);
  w.Key("calls");
  w.StartObject();
  w.Key("ok");
  w.Int64(m.calls.ok);
  w.Key("transient");
  w.Int64(m.calls.transient);
  w.Key("permanent");
  w.Int64(m.calls.permanent);
  w.Key("other");
  w.Int64(m.calls.other);
  w.Key("abandoned");
  w.Int64(m.calls.abandoned);
  w.Key("total");
  w.Int64(m.calls.total());
  w.EndObject();
  const double minutes = win.outcome_seconds / 60.0;
  w.Key("per_minute");
  w.StartObject();
  w.Key("ok");
  num(w, static_cast<double>(m.calls.ok) / minutes);
  w.Key("transient");
  num(w, static_cast<double>(m.calls.transient) / minutes);
  w.Key("permanent");
  num(w, static_cast<double>(m.calls.permanent) / minutes);
  w.EndObject();
  w.Key("success_rate");
  ratio(w, m.calls.ok, m.calls.total());
  w.Key("error_rate");
  ratio(w, m.calls.transient + m.calls.permanent, m.calls.total());
  w.Key("latency_ms");
  w.StartObject();
  w.Key("p50");
  opt(w, m.p50_ms);
  w.Key("p95");
  opt(w, m.p95_ms);
  w.Key("mean");
  opt(w, m.mean_ms);
  w.EndObject();
  w.Key("cooldown_seconds");
  opt(w, m.cooldown_seconds);
  w.Key("rate_factor");
  num(w, m.rate_factor);
  w.Key("rate_limited_total");
  w.Int64(m.rate_limited_total);
  w.Key("effective_max_inflight");
  w.Int(m.inflight_limit());
  w.Key("overload_reason");
  opt_str(w, m.overloaded() ? std::optional<std::string>(m.overload_reason) : std::nullopt);
  w.Key("overloads_total");
  w.Int64(m.overload_total);
  w.Key("capacity_per_second");
  num(w, model_capacity(m));
  w.Key("suspended");
  w.Bool(m.suspended_since.has_value());
  w.Key("suspended_since");
  opt_str(w, m.suspended_since);
  w.Key("suspend_reason");
  opt_str(w, m.suspended_since ? std::optional<std::string>(m.suspend_reason) : std::nullopt);
  w.Key("probe_interval_seconds");
  num(w, m.probe_interval_seconds);
  // Issue 17: the token budget (null without one).
  w.Key("tpm");
  opt(w, m.tpm);
  w.Key("tpm_burst");
  opt(w, m.tpm_burst ? std::optional<double>(*m.tpm_burst) : std::nullopt);
  w.Key("tpm_capacity");
  opt(w, m.tpm ? std::optional<double>(m.tpm_capacity) : std::nullopt);
  w.Key("tpm_level");
  opt(w, m.tpm ? std::optional<double>(m.tpm_level.value_or(m.tpm_capacity)) : std::nullopt);
  w.Key("output_token_estimate");
  opt(w, m.out_estimate);
  w.Key("bytes_per_token");
  num(w, m.bytes_per_token);
  w.Key("tokens_last_window");
  w.Int64(m.tokens_last_window);
  w.EndObject();
}

void worker(Writer& w, const WorkerStatus& k) {
  w.StartObject();
  w.Key("id");
  str(w, k.id);
  w.Key("host");
  str(w, k.host);
  w.Key("pid");
  w.Int64(k.pid);
  w.Key("version");
  str(w, k.version);
  w.Key("in_flight");
  w.Int64(k.in_flight);
  w.Key("solved");
  w.Int64(k.solved);
  w.Key("failed");
  w.Int64(k.failed);
  w.Key("uptime_seconds");
  num(w, k.uptime_seconds);
  w.Key("heartbeat_age_seconds");
  num(w, k.heartbeat_age_seconds);
  w.EndObject();
}

}  // namespace

std::string render_status_json(const StatusSnapshot& s) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("now");
  str(w, s.now);
  w.Key("empty");
  w.Bool(s.empty());
  w.Key("windows");
  w.StartObject();
  w.Key("rate_seconds");
  num(w, s.windows.rate_seconds);
  w.Key("outcome_seconds");
  num(w, s.windows.outcome_seconds);
  w.Key("heartbeat_seconds");
  num(w, s.windows.heartbeat_seconds);
  w.EndObject();
  backlog(w, s.backlog);
  w.Key("models");
  w.StartArray();
  for (const auto& m : s.models) {
    model(w, m, s.windows);
  }
  w.EndArray();
  w.Key("workers");
  w.StartArray();
  for (const auto& k : s.workers) {
    worker(w, k);
  }
  w.EndArray();
  w.Key("stale_workers");
  w.Int64(s.stale_workers);
  w.Key("backend");
  w.StartObject();
  w.Key("unreachable");
  w.Bool(s.backend.unreachable_since.has_value());
  w.Key("unreachable_since");
  opt_str(w, s.backend.unreachable_since);
  w.Key("retry_in_seconds");
  num(w, s.backend.retry_in_seconds);
  w.Key("last_error");
  opt_str(w, s.backend.unreachable_since ? std::optional<std::string>(s.backend.last_error)
                                         : std::nullopt);
  w.EndObject();
  w.Key("eta");
  w.StartObject();
  w.Key("state");
  w.String(to_string(s.eta.state));
  w.Key("seconds");
  opt(w, s.eta.seconds);
  w.Key("resumes_in_seconds");
  opt(w, s.eta.resumes_in_seconds);
  w.Key("stuck_tasks");
  w.Int64(s.eta.stuck_tasks);
  w.Key("stuck_models");
  w.StartArray();
  for (const auto& name : s.eta.stuck_models) {
    str(w, name);
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace llmlb::status
