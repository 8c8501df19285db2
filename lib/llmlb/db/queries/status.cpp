#include "llmlb/db/queries/status.hpp"

#include <map>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/queries/models_sql.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {
namespace {

using status::ModelStatus;
using status::StatusSnapshot;
using status::WorkerStatus;
using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

std::optional<double> opt_double(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<double>(f.as<double>());
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
    if (status == "cancelled") {
      b.cancelled += total;
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

void read_calls(Snapshot& tx, const std::string& now, StatusSnapshot& s,
                std::map<std::string, ModelStatus*>& by_name) {
  for (const auto& r : tx.exec_params(
           "SELECT model,"
           " count(*) FILTER (WHERE outcome = 'ok'),"
           " count(*) FILTER (WHERE outcome = 'transient'),"
           " count(*) FILTER (WHERE outcome = 'permanent'),"
           " count(*) FILTER (WHERE outcome NOT IN ('ok', 'transient', 'permanent', 'sent')),"
           " percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'ok'),"
           " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = "
           "'ok'),"
           " avg(latency_ms) FILTER (WHERE outcome = 'ok'),"
           " count(*) FILTER (WHERE outcome = 'abandoned')"
           " FROM llmlb.calls WHERE sent_at > $1::timestamptz - $2 * interval '1 second'"
           " GROUP BY model",
           now, s.windows.outcome_seconds)) {
    auto it = by_name.find(r[0].as<std::string>());
    if (it == by_name.end()) {
      continue;
    }
    ModelStatus& m = *it->second;
    m.calls.ok = r[1].as<long long>();
    m.calls.transient = r[2].as<long long>();
    m.calls.permanent = r[3].as<long long>();
    m.calls.other = r[4].as<long long>();
    m.p50_ms = opt_double(r[5]);
    m.p95_ms = opt_double(r[6]);
    m.mean_ms = opt_double(r[7]);
    m.calls.abandoned = r[8].as<long long>();
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

// Issue 14: an outage recorded by note_unreachable(). One whose backoff ended over 30 s ago is
// not shown: no worker has tried the backend since (a worker that reported it may be gone).
void read_backend(Snapshot& tx, const std::string& now, StatusSnapshot& s) {
  const auto rows = tx.exec_params(
      "SELECT to_char(unreachable_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
      " extract(epoch FROM $1::timestamptz - unreachable_since)::double precision,"
      " greatest(0, extract(epoch FROM unreachable_until - $1::timestamptz))::double precision,"
      " coalesce(last_error, '')"
      " FROM llmlb.backend_state WHERE unreachable_since IS NOT NULL"
      " AND unreachable_until > $1::timestamptz - interval '30 seconds'",
      now);
  if (!rows.empty()) {
    s.backend.unreachable_since = rows[0][0].as<std::string>();
    s.backend.unreachable_seconds = rows[0][1].as<double>();
    s.backend.retry_in_seconds = rows[0][2].as<double>();
    s.backend.last_error = rows[0][3].as<std::string>();
  }
}

}  // namespace

StatusSnapshot read_status(Session& session, const status::StatusWindows& windows) {
  StatusSnapshot s;
  s.windows = windows;
  translate_errors("cannot read the status", [&] {
    Snapshot tx(connection_of(session));
    const auto now_row = tx.exec(
        "SELECT t::text, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM (SELECT clock_timestamp() AS t) x");
    const std::string now = now_row[0][0].as<std::string>();
    s.now = now_row[0][1].as<std::string>();
    ModelRowQuery query;
    query.include_unconfigured = true;  // names that tasks are pinned to show up too
    query.window_seconds = windows.rate_seconds;
    for (auto& row : read_model_rows(tx, query, now)) {
      ModelStatus m;
      static_cast<ModelRow&>(m) = std::move(row);
      s.models.push_back(std::move(m));
    }
    read_tasks(tx, now, s);
    std::map<std::string, ModelStatus*> by_name;
    for (auto& m : s.models) {
      by_name[m.name] = &m;
    }
    read_calls(tx, now, s, by_name);
    read_workers(tx, now, s);
    read_backend(tx, now, s);
    tx.commit();
  });
  return s;
}

}  // namespace llmlb::db
