#include "llmlb/db/worker_store.hpp"

#include <unistd.h>

#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/migrations.hpp"
#include "llmlb/db/params.hpp"
#include "llmlb/db/queries/models_sql.hpp"
#include "llmlb/db/session_impl.hpp"
#include "llmlb/db/worker_codec.hpp"

namespace llmlb::db {
namespace {

std::string array_literal(const std::vector<std::int64_t>& ids) {
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    array += (i > 0 ? "," : "") + std::to_string(ids[i]);
  }
  return array + "}";
}

class PgWorkerStore final : public work::Store {
 public:
  PgWorkerStore(std::string conninfo, std::string worker_id)
      : conninfo_(std::move(conninfo)), worker_id_(std::move(worker_id)) {
    open();
  }

  void reconnect() override {
    session_.reset();
    open();
  }

  void require_current_schema() override { db::require_current_schema(*session_); }

  work::ClaimResult claim(const work::ClaimRequest& q) override {
    return translate_errors("claim failed", [&] {
      pqxx::nontransaction tx(*conn_);
      const auto array = text_array(q.models);
      const auto rows = tx.exec_prepared("claim", worker_id_, q.want, nullable(array),
                                         q.lease_seconds, q.sweep, std::string(to_sql(q.endpoint)));
      work::ClaimResult out;
      for (const auto& row : rows) {
        if (row["kind"].as<std::string>() == "task") {
          work::ClaimedTask t;
          t.lease.task_id = row["task_id"].as<std::int64_t>();
          t.lease.token = row["lease_token"].as<std::int64_t>();
          t.lease.model = row["model"].as<std::string>();
          t.lease.claimed_at = row["claimed_at"].as<std::string>();
          t.lease.attempts = row["attempts"].as<int>();
          // A NULL prompt (a column someone made nullable) reads as empty: the dispatcher
          // fails that one task ("prompt is empty") instead of the whole worker throwing.
          t.prompt = row["prompt"].is_null() ? std::string() : row["prompt"].as<std::string>();
          out.tasks.push_back(std::move(t));
        } else {
          work::ModelState s;
          s.model = row["model"].as<std::string>();
          s.wait_seconds = row["wait_seconds"].is_null() ? 0.0 : row["wait_seconds"].as<double>();
          // A note this binary does not know (a newer schema) reads as 'idle': the model is
          // covered again by the next full claim.
          s.note =
              note_from_sql(row["note"].is_null() ? std::string() : row["note"].as<std::string>())
                  .value_or(work::ModelNote::idle);
          out.models.push_back(std::move(s));
        }
      }
      return out;
    });
  }

  int sweep_if_due() override {
    return translate_errors("sweep failed", [&] {
      pqxx::nontransaction tx(*conn_);
      return tx.exec_prepared("sweep")[0][0].as<int>();
    });
  }

  work::WriteCounts complete(const std::vector<work::TaskResult>& results,
                             int max_attempts) override {
    return translate_errors("write-back failed", [&] {
      pqxx::nontransaction tx(*conn_);
      const auto r =
          tx.exec_prepared("complete", worker_id_, encode_results(results), max_attempts)[0];
      work::WriteCounts c;
      c.solved = r["solved"].as<int>();
      c.failed = r["failed"].as<int>();
      c.retried = r["retried"].as<int>();
      c.released = r["released"].as<int>();
      c.lost = r["lost"].as<int>();
      c.superseded = r["superseded"].as<int>();
      return c;
    });
  }

  void note_rate_limited(const std::string& model, double retry_after_seconds, int count) override {
    translate_errors("cooldown failed", [&] {
      pqxx::nontransaction tx(*conn_);
      tx.exec_prepared("rate_limited", model, retry_after_seconds, count);
    });
  }

  double note_unreachable(const std::string& error) override {
    return translate_errors("backend backoff failed", [&] {
      pqxx::nontransaction tx(*conn_);
      return tx.exec_prepared("unreachable", error)[0][0].as<double>();
    });
  }

  bool note_reachable() override {
    return translate_errors("backend backoff failed", [&] {
      pqxx::nontransaction tx(*conn_);
      return tx.exec_prepared("reachable")[0][0].as<bool>();
    });
  }

  work::ModelHealth note_model_health(const std::string& model,
                                      const work::ModelHealthNote& n) override {
    return translate_errors("model health failed", [&] {
      pqxx::nontransaction tx(*conn_);
      const std::optional<std::string> hard =
          n.hard.empty() ? std::nullopt : std::optional<std::string>(n.hard);
      const auto rows =
          tx.exec_prepared("model_health", model, n.ok, nullable(hard), n.reset, n.sig, n.streak);
      work::ModelHealth h;
      if (!rows.empty()) {
        h.suspended = rows[0]["suspended"].as<bool>();
        h.changed = rows[0]["changed"].as<bool>();
        h.reason =
            rows[0]["reason"].is_null() ? std::string() : rows[0]["reason"].as<std::string>();
      }
      return h;
    });
  }

  work::OverloadState note_overload(const std::string& model, const work::OverloadNote& n,
                                    double timeout_ms, double latency_ratio) override {
    return translate_errors("overload report failed", [&] {
      pqxx::nontransaction tx(*conn_);
      const auto median = number_text(
          n.latency_ms.empty() ? std::nullopt : std::optional<double>(n.median_latency_ms()));
      const std::optional<std::string> claimed =
          n.latest_claimed_at.empty() ? std::nullopt
                                      : std::optional<std::string>(n.latest_claimed_at);
      const auto rows =
          tx.exec_prepared("overload", model, n.ok, n.timeouts, n.overloaded, nullable(median),
                           nullable(claimed), timeout_ms, latency_ratio);
      work::OverloadState o;
      if (!rows.empty()) {
        o.effective = rows[0]["effective"].as<int>();
        o.configured = rows[0]["configured"].as<int>();
        o.lowered = rows[0]["lowered"].as<bool>();
        o.reason =
            rows[0]["reason"].is_null() ? std::string() : rows[0]["reason"].as<std::string>();
      }
      return o;
    });
  }

  int renew(const std::vector<std::int64_t>& task_ids, double lease_seconds) override {
    return translate_errors("lease renewal failed", [&] {
      pqxx::nontransaction tx(*conn_);
      return tx.exec_prepared("renew", worker_id_, array_literal(task_ids), lease_seconds)[0][0]
          .as<int>();
    });
  }

  void heartbeat(const work::Heartbeat& b) override {
    translate_errors("heartbeat failed", [&] {
      pqxx::nontransaction tx(*conn_);
      tx.exec_prepared("heartbeat", worker_id_, host_, static_cast<int>(::getpid()),
                       std::string(LLMLB_VERSION), b.in_flight, b.solved, b.failed, b.stopped);
    });
  }

  std::map<std::string, double> latency_p95(double window_seconds) override {
    return translate_errors("latency estimate failed", [&] {
      pqxx::nontransaction tx(*conn_);
      std::map<std::string, double> out;
      for (const auto& row : tx.exec_prepared("latency_p95", window_seconds)) {
        out[row["model"].as<std::string>()] = row["p95_ms"].as<double>() / 1000.0;
      }
      return out;
    });
  }

  bool has_pending_work(const std::vector<std::string>& models) override {
    return translate_errors("until-empty check failed", [&] {
      pqxx::nontransaction tx(*conn_);
      const auto array = text_array(models);
      return tx.exec_prepared("pending_work", nullable(array))[0][0].as<bool>();
    });
  }

  work::Figures figures(double window_seconds) override {
    return translate_errors("progress failed", [&] { return read_figures(window_seconds); });
  }

 private:
  void open() {
    session_ = std::make_unique<Session>(conninfo_);
    conn_ = &connection_of(*session_);
    translate_errors("preparing statements failed", [&] { prepare(); });
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    host_ = host;
  }

  void prepare() {
    conn_->prepare("claim",
                   "SELECT kind, model, task_id, prompt, lease_token, attempts, wait_seconds,"
                   " note, claimed_at::text AS claimed_at"
                   " FROM llmlb.claim($1, $2, $3::text[], $4, $5, $6)");
    conn_->prepare("sweep", "SELECT llmlb.sweep_if_due()");
    conn_->prepare("complete", "SELECT * FROM llmlb.complete($1, $2::json, $3)");
    conn_->prepare("rate_limited", "SELECT llmlb.note_rate_limited($1, $2, $3)");
    conn_->prepare("renew", "SELECT llmlb.renew($1, $2::bigint[], $3)");
    conn_->prepare("unreachable", "SELECT llmlb.note_unreachable($1)");
    conn_->prepare(
        "latency_p95",
        "SELECT model, percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms"
        " FROM llmlb.calls WHERE outcome = 'ok' AND latency_ms IS NOT NULL"
        " AND sent_at > clock_timestamp() - $1 * interval '1 second'"
        " GROUP BY model HAVING count(*) >= 5");
    conn_->prepare("reachable", "SELECT llmlb.note_reachable()");
    conn_->prepare("overload",
                   "SELECT effective, configured, lowered, reason FROM llmlb.note_overload($1, $2,"
                   " $3, $4, $5::double precision, $6::timestamptz, $7, $8)");
    conn_->prepare("model_health",
                   "SELECT suspended, changed, reason FROM llmlb.note_model_health($1, $2,"
                   " $3::text, $4, nullif($5, ''), $6)");
    conn_->prepare(
        "heartbeat",
        "INSERT INTO llmlb.workers AS w (id, host, pid, version, in_flight, solved, failed,"
        " stopped_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        " CASE WHEN $8::boolean THEN clock_timestamp() END)"
        " ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp(),"
        " in_flight = excluded.in_flight, solved = excluded.solved, failed = excluded.failed,"
        " stopped_at = excluded.stopped_at");
    conn_->prepare(
        "pending_work",
        "SELECT EXISTS (SELECT 1 FROM public.tasks t WHERE t.status = 'unsolved'"
        " AND t.model IS NULL"
        " AND EXISTS (SELECT 1 FROM llmlb.models m WHERE m.enabled"
        "             AND ($1::text[] IS NULL OR m.name = ANY ($1::text[]))"
        // Issue 14: a suspended model's tasks do not keep --until-empty running.
        "             AND NOT EXISTS (SELECT 1 FROM llmlb.model_health h"
        "                  WHERE h.model_id = m.id AND h.suspended_at IS NOT NULL)))"
        " OR EXISTS (SELECT 1 FROM public.tasks t JOIN llmlb.models m ON m.name = t.model"
        " WHERE t.status = 'unsolved' AND m.enabled"
        " AND ($1::text[] IS NULL OR m.name = ANY ($1::text[]))"
        " AND NOT EXISTS (SELECT 1 FROM llmlb.model_health h"
        "      WHERE h.model_id = m.id AND h.suspended_at IS NOT NULL))");
  }

  work::Figures read_figures(double window_seconds) {
    pqxx::read_transaction tx(*conn_);
    work::Figures f;
    const auto now = tx.exec("SELECT clock_timestamp()::text")[0][0].as<std::string>();
    f.models =
        read_model_rows(tx, {ModelRowQuery::Order::preference_then_id, true, window_seconds}, now);
    f.unpinned_waiting =
        tx.exec(
              "SELECT count(*) FROM public.tasks WHERE status = 'unsolved' AND model IS NULL"
              " AND (lease_token IS NULL OR lease_expires_at <= clock_timestamp())")[0][0]
            .as<long long>();
    return f;
  }

  std::string conninfo_;
  std::string worker_id_;
  std::string host_;
  std::unique_ptr<Session> session_;
  pqxx::connection* conn_ = nullptr;  // session_'s connection
};

}  // namespace

std::unique_ptr<work::Store> open_worker_store(const std::string& conninfo,
                                               const std::string& worker_id) {
  return std::make_unique<PgWorkerStore>(conninfo, worker_id);
}

}  // namespace llmlb::db
