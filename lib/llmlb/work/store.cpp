#include "llmlb/work/store.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <pqxx/pqxx>

#include "llmlb/db/connection.hpp"
#include "llmlb/db/migrations.hpp"
#include "llmlb/db/params.hpp"

namespace llmlb::work {

std::optional<std::string> text_array(const std::vector<std::string>& items) {
  if (items.empty()) {
    return std::nullopt;
  }
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string encode_results(const std::vector<TaskResult>& results) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&](const char* key, const std::string& s) {
    w.Key(key);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartArray();
  for (const auto& r : results) {
    w.StartObject();
    w.Key("id");
    w.Int64(r.id);
    w.Key("token");
    w.Int64(r.token);
    text("model", r.model);
    text("outcome", r.outcome);
    if (r.outcome == "ok") {
      text("answer", r.answer);
    }
    if (!r.error.empty()) {
      text("error", r.error);
    }
    if (!r.error_class.empty()) {
      text("error_class", r.error_class);
    }
    if (r.http_status != 0) {
      w.Key("http_status");
      w.Int64(r.http_status);
    }
    text("endpoint", r.endpoint);
    if (!r.claimed_at.empty()) {
      text("claimed_at", r.claimed_at);
    }
    w.Key("send_offset_ms");
    w.Double(r.send_offset_ms);
    w.Key("latency_ms");
    w.Double(r.latency_ms);
    w.Key("retry_seconds");
    w.Double(r.retry_seconds);
    w.Key("sent");
    w.Bool(r.sent);
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

Store::Store(std::string conninfo, std::string worker_id)
    : conninfo_(std::move(conninfo)), worker_id_(std::move(worker_id)) {
  conn_ = db::connect(conninfo_);
  prepare();
}

Store::~Store() = default;

void Store::reconnect() {
  conn_.reset();
  conn_ = db::connect(conninfo_);
  prepare();
}

void Store::prepare() {
  conn_->prepare("claim",
                 "SELECT kind, model, task_id, prompt, lease_token, attempts, wait_seconds, note,"
                 " claimed_at::text FROM llmlb.claim($1, $2, $3::text[], $4, $5)");
  conn_->prepare("sweep", "SELECT llmlb.sweep_if_due()");
  conn_->prepare("complete", "SELECT * FROM llmlb.complete($1, $2::json, $3)");
  conn_->prepare("rate_limited", "SELECT llmlb.note_rate_limited($1, $2, $3)");
  conn_->prepare("renew", "SELECT llmlb.renew($1, $2::bigint[], $3)");
  conn_->prepare(
      "heartbeat",
      "INSERT INTO llmlb.workers AS w (id, host, pid, version, in_flight, solved, failed,"
      " stopped_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
      " CASE WHEN $8::boolean THEN clock_timestamp() END)"
      " ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp(),"
      " in_flight = excluded.in_flight, solved = excluded.solved, failed = excluded.failed,"
      " stopped_at = excluded.stopped_at");
  conn_->prepare("pending_work",
                 "SELECT EXISTS (SELECT 1 FROM public.tasks t WHERE t.status = 'unsolved'"
                 " AND t.model IS NULL"
                 " AND EXISTS (SELECT 1 FROM llmlb.models m WHERE m.enabled"
                 "             AND ($1::text[] IS NULL OR m.name = ANY ($1::text[]))))"
                 " OR EXISTS (SELECT 1 FROM public.tasks t JOIN llmlb.models m ON m.name = t.model"
                 " WHERE t.status = 'unsolved' AND m.enabled"
                 " AND ($1::text[] IS NULL OR m.name = ANY ($1::text[])))");
}

ClaimResult Store::claim(int want, const std::vector<std::string>& models, double lease_seconds,
                         bool sweep) {
  pqxx::nontransaction tx(*conn_);
  const auto array = text_array(models);
  const auto rows =
      tx.exec_prepared("claim", worker_id_, want, db::nullable(array), lease_seconds, sweep);
  ClaimResult out;
  for (const auto& row : rows) {
    const auto kind = row[0].as<std::string>();
    if (kind == "task") {
      ClaimedTask t;
      t.model = row[1].as<std::string>();
      t.id = row[2].as<std::int64_t>();
      t.prompt = row[3].as<std::string>();
      t.token = row[4].as<std::int64_t>();
      t.attempts = row[5].as<int>();
      t.claimed_at = row[8].as<std::string>();
      out.tasks.push_back(std::move(t));
    } else {
      ModelState s;
      s.model = row[1].as<std::string>();
      s.wait_seconds = row[6].is_null() ? 0.0 : row[6].as<double>();
      s.note = row[7].is_null() ? "" : row[7].as<std::string>();
      out.models.push_back(std::move(s));
    }
  }
  return out;
}

int Store::sweep_if_due() {
  pqxx::nontransaction tx(*conn_);
  return tx.exec_prepared("sweep")[0][0].as<int>();
}

WriteCounts Store::complete(const std::vector<TaskResult>& results, int max_attempts) {
  pqxx::nontransaction tx(*conn_);
  const auto r = tx.exec_prepared("complete", worker_id_, encode_results(results), max_attempts);
  WriteCounts c;
  c.solved = r[0][0].as<int>();
  c.failed = r[0][1].as<int>();
  c.retried = r[0][2].as<int>();
  c.released = r[0][3].as<int>();
  c.lost = r[0][4].as<int>();
  return c;
}

void Store::note_rate_limited(const std::string& model, double retry_after_seconds, int count) {
  pqxx::nontransaction tx(*conn_);
  tx.exec_prepared("rate_limited", model, retry_after_seconds, count);
}

int Store::renew(const std::vector<std::int64_t>& ids, double lease_seconds) {
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    array += (i > 0 ? "," : "") + std::to_string(ids[i]);
  }
  array += "}";
  pqxx::nontransaction tx(*conn_);
  return tx.exec_prepared("renew", worker_id_, array, lease_seconds)[0][0].as<int>();
}

void Store::heartbeat(int in_flight, long long solved, long long failed, bool stopped) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  pqxx::nontransaction tx(*conn_);
  tx.exec_prepared("heartbeat", worker_id_, std::string(host), static_cast<int>(::getpid()),
                   std::string(LLMLB_VERSION), in_flight, solved, failed, stopped);
}

bool Store::has_pending_work(const std::vector<std::string>& models) {
  pqxx::nontransaction tx(*conn_);
  const auto array = text_array(models);
  return tx.exec_prepared("pending_work", db::nullable(array))[0][0].as<bool>();
}

Figures Store::figures(double window_seconds) {
  pqxx::read_transaction tx(*conn_);
  Figures f;
  std::map<std::string, ModelFigures> by_name;
  std::vector<std::string> order;
  for (const auto& row : tx.exec("SELECT name, enabled, rpm, max_inflight FROM llmlb.models"
                                 " ORDER BY preference, id")) {
    ModelFigures m;
    m.model = row[0].as<std::string>();
    m.configured = true;
    m.enabled = row[1].as<bool>();
    m.rpm = row[2].as<double>();
    m.max_inflight = row[3].as<int>();
    order.push_back(m.model);
    by_name[m.model] = m;
  }
  for (const auto& row :
       tx.exec("SELECT model, count(*) FILTER (WHERE lease_token IS NULL) FROM public.tasks"
               " WHERE status = 'unsolved' GROUP BY model")) {
    if (row[0].is_null()) {
      f.unpinned_waiting = row[1].as<long long>();
      continue;
    }
    const auto name = row[0].as<std::string>();
    if (by_name.count(name) == 0) {
      order.push_back(name);
      by_name[name].model = name;
    }
    by_name[name].waiting = row[1].as<long long>();
  }
  for (const auto& row : tx.exec_params(
           "SELECT model, sum(n)::bigint FROM ("
           " SELECT model, count(*) AS n FROM llmlb.calls"
           "  WHERE sent_at > clock_timestamp() - $1 * interval '1 second' GROUP BY model"
           " UNION ALL"
           " SELECT lease_model, count(*) FROM public.tasks WHERE lease_token IS NOT NULL"
           "  AND leased_at > clock_timestamp() - $1 * interval '1 second' GROUP BY lease_model"
           ") s GROUP BY model",
           window_seconds)) {
    const auto name = row[0].as<std::string>();
    if (by_name.count(name) != 0) {
      by_name[name].sent_last_window = row[1].as<long long>();
    }
  }
  for (const auto& row : tx.exec("SELECT lease_model, count(*) FROM public.tasks"
                                 " WHERE lease_token IS NOT NULL GROUP BY lease_model")) {
    const auto name = row[0].as<std::string>();
    if (by_name.count(name) != 0) {
      by_name[name].leased = row[1].as<long long>();
    }
  }
  for (const auto& name : order) {
    f.models.push_back(by_name[name]);
  }
  return f;
}

void Store::require_current_schema() {
  db::require_current_schema(*conn_);
}

}  // namespace llmlb::work
