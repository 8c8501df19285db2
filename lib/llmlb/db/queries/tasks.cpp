#include "llmlb/db/queries/tasks.hpp"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <algorithm>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/params.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {

std::size_t insert_tasks(Session& session, const std::vector<enqueue::TaskInput>& tasks) {
  constexpr std::size_t kBatch = 1000;
  std::size_t inserted = 0;
  translate_errors("cannot insert tasks, none were inserted", [&] {
    pqxx::work tx(connection_of(session));
    for (std::size_t start = 0; start < tasks.size(); start += kBatch) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartArray();
      for (std::size_t i = start; i < std::min(tasks.size(), start + kBatch); ++i) {
        const auto& t = tasks[i];
        w.StartObject();
        w.Key("prompt");
        w.String(t.prompt.data(), static_cast<rapidjson::SizeType>(t.prompt.size()));
        w.Key("model");
        if (t.model) {
          w.String(t.model->data(), static_cast<rapidjson::SizeType>(t.model->size()));
        } else {
          w.Null();
        }
        w.Key("priority");
        w.Int(t.priority);
        w.EndObject();
      }
      w.EndArray();
      const auto r = tx.exec_params(
          "WITH ins AS (INSERT INTO public.tasks (prompt, model, priority)"
          " SELECT x.prompt, x.model, x.priority"
          " FROM json_to_recordset($1::json) AS x(prompt text, model text, priority integer)"
          " RETURNING 1) SELECT count(*) FROM ins",
          std::string(buf.GetString(), buf.GetSize()));
      inserted += r[0][0].as<std::size_t>();
    }
    tx.commit();
  });
  return inserted;
}

namespace {

// $1 model, $2 error substring, $3 since (seconds), $4 ids (bigint[]): NULL matches any.
// {0}: the statuses acted on; {1}: what --since means.
constexpr const char* kFilter =
    "t.status IN ({0})"
    " AND ($1::text IS NULL OR t.model = $1 OR t.answered_by = $1 OR t.lease_model = $1)"
    " AND ($2::text IS NULL OR strpos(coalesce(t.last_error, ''), $2) > 0)"
    " AND ($3::double precision IS NULL OR {1})"
    " AND ($4::bigint[] IS NULL OR t.id = ANY ($4::bigint[]))";

constexpr const char* kFailedSince =
    "t.created_at > clock_timestamp() - $3 * interval '1 second'"
    " OR t.id IN (SELECT c.task_id FROM llmlb.calls c"
    "             WHERE c.sent_at > clock_timestamp() - $3 * interval '1 second')";
constexpr const char* kCreatedSince = "t.created_at > clock_timestamp() - $3 * interval '1 second'";

long long bulk_change(Session& session, const char* what, const TaskFilter& f,
                      const std::string& where, const std::string& set, bool dry_run, int batch) {
  std::optional<std::string> since, ids;
  if (f.since_seconds) {
    since = fmt::format("{}", *f.since_seconds);
  }
  if (!f.ids.empty()) {
    ids = fmt::format("{{{}}}", fmt::join(f.ids, ","));
  }
  return translate_errors(fmt::format("cannot {} tasks", what), [&] {
    auto& conn = connection_of(session);
    if (dry_run) {
      pqxx::read_transaction tx(conn);
      return tx
          .exec_params("SELECT count(*) FROM public.tasks t WHERE " + where, nullable(f.model),
                       nullable(f.error), nullable(since), nullable(ids))[0][0]
          .as<long long>();
    }
    const std::string sql = fmt::format(
        "WITH c AS (SELECT t.id FROM public.tasks t WHERE {} ORDER BY t.id LIMIT $5"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE public.tasks t SET {} WHERE t.id = ANY (ARRAY(SELECT c.id FROM c))",
        where, set);
    long long total = 0;
    for (;;) {
      pqxx::work tx(conn);
      const auto r = tx.exec_params(sql, nullable(f.model), nullable(f.error), nullable(since),
                                    nullable(ids), batch);
      tx.commit();
      total += r.affected_rows();
      if (static_cast<long long>(r.affected_rows()) < batch) {
        return total;
      }
    }
  });
}

}  // namespace

long long requeue_tasks(Session& session, const TaskFilter& filter, bool dry_run, int batch) {
  return bulk_change(session, "requeue", filter, fmt::format(kFilter, "'failed'", kFailedSince),
                     "status = 'unsolved', attempts = 0, retry_at = NULL, solved_at = NULL",
                     dry_run, batch);
}

long long cancel_tasks(Session& session, const TaskFilter& filter, bool include_failed,
                       bool dry_run, int batch) {
  return bulk_change(
      session, "cancel", filter,
      fmt::format(kFilter, include_failed ? "'unsolved', 'failed'" : "'unsolved'", kCreatedSince),
      "status = 'cancelled', retry_at = NULL, lease_owner = NULL, lease_token = NULL,"
      " lease_model = NULL, lease_expires_at = NULL, leased_at = NULL",
      dry_run, batch);
}

}  // namespace llmlb::db
