#include "llmlb/ops/status_query.hpp"

#include <fmt/format.h>
#include <map>
#include <pqxx/pqxx>

#include "llmlb/error.hpp"
#include "llmlb/ops/eta.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::ops {
namespace {

using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

std::optional<double> opt_double(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<double>(f.as<double>());
}

void read_models(Snapshot& tx, const std::string& now, StatusSnapshot& s) {
  const auto rows = tx.exec_params(
      "SELECT m.name, m.rpm, m.burst, m.max_inflight, m.enabled, m.preference,"
      " CASE WHEN q.cooldown_until > $1::timestamptz"
      "  THEN extract(epoch FROM q.cooldown_until - $1::timestamptz)::double precision END,"
      " coalesce(llmlb.effective_factor(q, $1::timestamptz), 1),"
      " coalesce(q.rate_limited_total, 0)"
      " FROM llmlb.models m LEFT JOIN llmlb.quota q ON q.model_id = m.id"
      " ORDER BY m.preference, m.id",
      now);
  for (const auto& r : rows) {
    ModelStatus m;
    m.name = r[0].as<std::string>();
    m.configured = true;
    m.rpm = r[1].as<double>();
    m.burst = r[2].as<int>();
    m.max_inflight = r[3].as<int>();
    m.enabled = r[4].as<bool>();
    m.preference = r[5].as<int>();
    m.cooldown_seconds = opt_double(r[6]);
    m.rate_factor = r[7].as<double>();
    m.rate_limited_total = r[8].as<long long>();
    s.models.push_back(std::move(m));
  }
}

void read_tasks(Snapshot& tx, const std::string& now, StatusSnapshot& s) {
  // One pass over public.tasks. A task is in flight while its lease is live; a task whose lease
  // expired is waiting again (the next claim's sweep frees it).
  const auto rows = tx.exec_params(
      "SELECT model, status,"
      " count(*) FILTER (WHERE lease_token IS NULL OR lease_expires_at <= $1::timestamptz),"
      " count(*) FILTER (WHERE lease_token IS NULL AND retry_at > $1::timestamptz),"
      " count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at <= $1::timestamptz),"
      " count(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at > $1::timestamptz),"
      " count(*)"
      " FROM public.tasks GROUP BY model, status",
      now);
  auto& b = s.backlog;
  for (const auto& r : rows) {
    const std::string status = r[1].is_null() ? "" : r[1].as<std::string>();
    const auto total = r[6].as<long long>();
    if (status == "solved") {
      b.solved += total;
      continue;
    }
    if (status == "failed") {
      b.failed += total;
      continue;
    }
    if (status != "unsolved") {
      continue;  // rows written by other tools with another status are not llmlb's backlog
    }
    const auto waiting = r[2].as<long long>();
    if (r[0].is_null()) {
      b.unpinned_waiting += waiting;
    } else if (waiting > 0) {
      b.pinned_waiting[r[0].as<std::string>()] += waiting;
    }
    b.retry_waiting += r[3].as<long long>();
    b.expired_leases += r[4].as<long long>();
    b.in_flight += r[5].as<long long>();
  }
}

void read_leases_and_calls(Snapshot& tx, const std::string& now, StatusSnapshot& s,
                           std::map<std::string, ModelStatus*>& by_name) {
  const auto& w = s.windows;
  for (const auto& r : tx.exec_params(
           "SELECT lease_model,"
           " count(*) FILTER (WHERE lease_expires_at > $1::timestamptz),"
           " count(*) FILTER (WHERE leased_at > $1::timestamptz - $2 * interval '1 second')"
           " FROM public.tasks WHERE lease_token IS NOT NULL AND lease_model IS NOT NULL"
           " GROUP BY lease_model",
           now, w.rate_seconds)) {
    auto it = by_name.find(r[0].as<std::string>());
    if (it != by_name.end()) {
      it->second->in_flight = r[1].as<long long>();
      it->second->sent_last_window += r[2].as<long long>();
    }
  }
  for (const auto& r : tx.exec_params(
           "SELECT model,"
           " count(*) FILTER (WHERE sent_at > $1::timestamptz - $2 * interval '1 second'),"
           " count(*) FILTER (WHERE o AND outcome = 'ok'),"
           " count(*) FILTER (WHERE o AND outcome = 'transient'),"
           " count(*) FILTER (WHERE o AND outcome = 'permanent'),"
           " count(*) FILTER (WHERE o AND outcome NOT IN ('ok', 'transient', 'permanent')),"
           " percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)"
           "  FILTER (WHERE o AND outcome = 'ok'),"
           " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
           "  FILTER (WHERE o AND outcome = 'ok'),"
           " avg(latency_ms) FILTER (WHERE o AND outcome = 'ok')"
           " FROM (SELECT *, sent_at > $1::timestamptz - $3 * interval '1 second' AS o"
           "       FROM llmlb.calls"
           "       WHERE sent_at > $1::timestamptz - greatest($2, $3) * interval '1 second') c"
           " GROUP BY model",
           now, w.rate_seconds, w.outcome_seconds)) {
    auto it = by_name.find(r[0].as<std::string>());
    if (it == by_name.end()) {
      continue;
    }
    ModelStatus& m = *it->second;
    m.sent_last_window += r[1].as<long long>();
    m.calls.ok = r[2].as<long long>();
    m.calls.transient = r[3].as<long long>();
    m.calls.permanent = r[4].as<long long>();
    m.calls.other = r[5].as<long long>();
    m.p50_ms = opt_double(r[6]);
    m.p95_ms = opt_double(r[7]);
    m.mean_ms = opt_double(r[8]);
  }
}

void read_workers(Snapshot& tx, const std::string& now, StatusSnapshot& s) {
  for (const auto& r :
       tx.exec_params("SELECT id, host, pid, version, in_flight, solved, failed,"
                      " extract(epoch FROM $1::timestamptz - started_at)::double precision,"
                      " extract(epoch FROM $1::timestamptz - heartbeat_at)::double precision"
                      " FROM llmlb.workers WHERE stopped_at IS NULL"
                      " AND heartbeat_at > $1::timestamptz - $2 * interval '1 second'"
                      " ORDER BY started_at, id",
                      now, s.windows.heartbeat_seconds)) {
    WorkerStatus w;
    w.id = r[0].as<std::string>();
    w.host = r[1].as<std::string>();
    w.pid = r[2].as<long long>();
    w.version = r[3].as<std::string>();
    w.in_flight = r[4].as<long long>();
    w.solved = r[5].as<long long>();
    w.failed = r[6].as<long long>();
    w.uptime_seconds = r[7].as<double>();
    w.heartbeat_age_seconds = r[8].as<double>();
    s.workers.push_back(std::move(w));
  }
  s.stale_workers = tx.exec_params(
                          "SELECT count(*) FROM llmlb.workers WHERE stopped_at IS NULL"
                          " AND heartbeat_at <= $1::timestamptz - $2 * interval '1 second'",
                          now, s.windows.heartbeat_seconds)[0][0]
                        .as<long long>();
}

}  // namespace

StatusSnapshot load_status(pqxx::connection& connection, const StatusWindows& windows) {
  StatusSnapshot s;
  s.windows = windows;
  try {
    Snapshot tx(connection);
    const auto now_row = tx.exec(
        "SELECT t::text, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM (SELECT clock_timestamp() AS t) x");
    const std::string now = now_row[0][0].as<std::string>();
    s.now = now_row[0][1].as<std::string>();
    read_models(tx, now, s);
    read_tasks(tx, now, s);
    // Names that tasks are pinned to but no configuration exists for, so they show up too.
    std::map<std::string, bool> configured;
    for (const auto& m : s.models) {
      configured[m.name] = true;
    }
    for (const auto& [name, count] : s.backlog.pinned_waiting) {
      if (configured.count(name) == 0) {
        ModelStatus m;
        m.name = name;
        m.waiting = count;
        s.models.push_back(std::move(m));
      }
    }
    std::map<std::string, ModelStatus*> by_name;
    for (auto& m : s.models) {
      by_name[m.name] = &m;
      if (auto it = s.backlog.pinned_waiting.find(m.name); it != s.backlog.pinned_waiting.end()) {
        m.waiting = it->second;
      }
    }
    read_leases_and_calls(tx, now, s, by_name);
    read_workers(tx, now, s);
    tx.commit();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string why = util::first_line(e.what());
    throw DatabaseError(fmt::format("cannot read the status: {}", why));
  }
  s.eta = compute_eta(s.backlog, s.models);
  return s;
}

}  // namespace llmlb::ops
