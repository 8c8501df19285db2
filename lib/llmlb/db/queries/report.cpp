#include "llmlb/db/queries/report.hpp"

#include <fmt/format.h>
#include <map>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/queries/models_sql.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {
namespace {

using report::ReportData;
using report::ReportModel;

using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

/// The bucket of timestamp expression `x`: $1 is the window start, $3 the bucket length in
/// seconds, $4 the bucket count. Clamped to [0, $4 - 1].
std::string bucket_of(const char* x) {
  return fmt::format(
      "least($4::int - 1, greatest(0, floor(extract(epoch FROM {} - $1::timestamptz)::float8"
      " / $3::float8)))::int",
      x);
}

std::optional<double> opt_double(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<double>(f.as<double>());
}

/// Adds `count` to v[bucket] when the bucket is in range.
void add_at(std::vector<long long>& v, int bucket, long long count) {
  if (bucket >= 0 && static_cast<std::size_t>(bucket) < v.size()) {
    v[static_cast<std::size_t>(bucket)] += count;
  }
}

struct Window {
  std::string start, stop;
  double bucket_seconds = 0;
  int buckets = 0;
};

ReportModel& model_named(ReportData& d, std::map<std::string, std::size_t>& index,
                         const std::string& name) {
  auto it = index.find(name);
  if (it == index.end()) {
    ReportModel m;
    m.name = name;
    m.sent.assign(static_cast<std::size_t>(d.buckets), 0);
    d.models.push_back(std::move(m));
    it = index.emplace(name, d.models.size() - 1).first;
  }
  return d.models[it->second];
}

void read_calls(Snapshot& tx, const Window& w, ReportData& d,
                std::map<std::string, std::size_t>& index) {
  // Unconfigured models get appended in name order: collect them first.
  std::map<std::string, bool> extra;
  const auto sent =
      tx.exec_params("SELECT model, " + bucket_of("sent_at") +
                         " AS b, count(*) FROM llmlb.calls"
                         "  WHERE sent_at >= $1::timestamptz AND sent_at < $2::timestamptz"
                         " GROUP BY 1, 2 ORDER BY 1, 2",
                     w.start, w.stop, w.bucket_seconds, w.buckets);
  for (const auto& r : sent) {
    extra[r[0].as<std::string>()] = true;
  }
  const auto stats = tx.exec_params(
      "SELECT model,"
      " count(*) FILTER (WHERE outcome = 'ok'),"
      " count(*) FILTER (WHERE outcome = 'transient'),"
      " count(*) FILTER (WHERE outcome = 'permanent'),"
      " count(*) FILTER (WHERE outcome NOT IN ('ok', 'transient', 'permanent', 'sent')),"
      " count(latency_ms) FILTER (WHERE outcome = 'ok'),"
      " percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'ok'),"
      " percentile_cont(0.9) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'ok'),"
      " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'ok'),"
      " percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'ok'),"
      " max(latency_ms) FILTER (WHERE outcome = 'ok'),"
      " avg(latency_ms) FILTER (WHERE outcome = 'ok'),"
      " llmlb.max_calls_in_window(model, interval '60 seconds', $1::timestamptz),"
      // Issue 17: reserved against settled tokens of answered calls that reserved some.
      " count(*) FILTER (WHERE outcome = 'ok' AND settled_tokens IS NOT NULL"
      "  AND reserved_tokens IS NOT NULL),"
      " coalesce(sum(reserved_tokens) FILTER (WHERE outcome = 'ok'"
      "  AND settled_tokens IS NOT NULL), 0)::bigint,"
      " coalesce(sum(settled_tokens) FILTER (WHERE outcome = 'ok'"
      "  AND reserved_tokens IS NOT NULL), 0)::bigint,"
      " count(*) FILTER (WHERE outcome = 'ok' AND settled_tokens > reserved_tokens)"
      " FROM llmlb.calls WHERE sent_at >= $1::timestamptz AND sent_at < $2::timestamptz"
      " GROUP BY model ORDER BY model",
      w.start, w.stop);
  for (const auto& r : stats) {
    extra[r[0].as<std::string>()] = true;
  }
  for (const auto& [name, unused] : extra) {
    model_named(d, index, name);
  }
  for (const auto& r : sent) {
    add_at(model_named(d, index, r[0].as<std::string>()).sent, r[1].as<int>(),
           r[2].as<long long>());
  }
  for (const auto& r : stats) {
    ReportModel& m = model_named(d, index, r[0].as<std::string>());
    m.ok = r[1].as<long long>();
    m.transient = r[2].as<long long>();
    m.permanent = r[3].as<long long>();
    m.other = r[4].as<long long>();
    m.latency_samples = r[5].as<long long>();
    m.p50_ms = opt_double(r[6]);
    m.p90_ms = opt_double(r[7]);
    m.p95_ms = opt_double(r[8]);
    m.p99_ms = opt_double(r[9]);
    m.max_ms = opt_double(r[10]);
    m.mean_ms = opt_double(r[11]);
    m.peak_minute = r[12].as<long long>();
    m.token_calls = r[13].as<long long>();
    m.tokens_reserved = r[14].as<long long>();
    m.tokens_settled = r[15].as<long long>();
    m.under_reserved = r[16].as<long long>();
  }
  for (const auto& r :
       tx.exec_params("SELECT coalesce(error_class, outcome), count(*) FROM llmlb.calls"
                      " WHERE sent_at >= $1::timestamptz AND sent_at < $2::timestamptz AND outcome "
                      "NOT IN ('ok', 'sent')"
                      " GROUP BY 1 ORDER BY 2 DESC, 1",
                      w.start, w.stop)) {
    d.errors.emplace_back(r[0].as<std::string>(), r[1].as<long long>());
  }
}

void read_tasks(Snapshot& tx, const Window& w, ReportData& d) {
  // A task is finished when it was solved (solved_at) or failed (its last call in the window
  // finished; a failed task without one failed before the window or was never sent, and counts
  // as finished at created_at). Everything else is backlog, including tasks in flight.
  const auto rows = tx.exec_params(
      "WITH f AS (SELECT task_id, max(finished_at) AS at FROM llmlb.calls"
      "           WHERE sent_at >= $1::timestamptz GROUP BY task_id),"
      " t AS (SELECT tk.created_at, tk.status,"
      "        CASE WHEN tk.status = 'solved' THEN coalesce(tk.solved_at, tk.created_at)"
      "             WHEN tk.status = 'failed' THEN coalesce(f.at, tk.created_at) END AS done_at"
      "       FROM public.tasks tk LEFT JOIN f ON tk.status = 'failed' AND f.task_id = tk.id)"
      " SELECT 'base'::text, 0, count(*) FROM t WHERE created_at < $1::timestamptz"
      "  AND (done_at IS NULL OR done_at >= $1::timestamptz)"
      " UNION ALL"
      " SELECT 'created', " +
          bucket_of("created_at") +
          ", count(*) FROM t"
          "  WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz GROUP BY 2"
          " UNION ALL"
          " SELECT status, " +
          bucket_of("done_at") +
          ", count(*) FROM t"
          "  WHERE done_at >= $1::timestamptz AND done_at < $2::timestamptz GROUP BY 1, 2",
      w.start, w.stop, w.bucket_seconds, w.buckets);
  for (const auto& r : rows) {
    const auto kind = r[0].as<std::string>();
    const int b = r[1].as<int>();
    const auto n = r[2].as<long long>();
    if (kind == "base") {
      d.backlog_at_start = n;
    } else if (kind == "created") {
      add_at(d.created, b, n);
    } else if (kind == "solved") {
      add_at(d.solved, b, n);
    } else if (kind == "failed") {
      add_at(d.failed, b, n);
    }
  }
}

}  // namespace

ReportData read_report(Session& session, std::chrono::milliseconds window,
                       const std::string& since_text, int buckets) {
  ReportData d;
  d.since = since_text;
  d.buckets = buckets;
  d.created.assign(static_cast<std::size_t>(buckets), 0);
  d.solved.assign(static_cast<std::size_t>(buckets), 0);
  d.failed.assign(static_cast<std::size_t>(buckets), 0);
  translate_errors("cannot read the report data", [&] {
    Snapshot tx(connection_of(session));
    const auto now = tx.exec_params(
        "SELECT (t - $1 * interval '1 millisecond')::text, t::text,"
        " extract(epoch FROM t - $1 * interval '1 millisecond')::float8,"
        " extract(epoch FROM t)::float8,"
        " to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM (SELECT clock_timestamp() AS t) x",
        static_cast<double>(window.count()));
    Window w;
    w.start = now[0][0].as<std::string>();
    w.stop = now[0][1].as<std::string>();
    d.start_epoch = now[0][2].as<double>();
    d.stop_epoch = now[0][3].as<double>();
    d.generated_at = now[0][4].as<std::string>();
    w.buckets = buckets;
    w.bucket_seconds = static_cast<double>(window.count()) / 1000.0 / buckets;
    d.bucket_seconds = w.bucket_seconds;

    std::map<std::string, std::size_t> index;
    for (auto& row : read_model_rows(tx, ModelRowQuery{}, w.stop)) {
      static_cast<ModelRow&>(model_named(d, index, row.name)) = std::move(row);
    }
    read_calls(tx, w, d, index);
    read_tasks(tx, w, d);
    tx.commit();
  });
  return d;
}

}  // namespace llmlb::db
