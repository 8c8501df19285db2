#include "llmlb/db/queries/calls.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {
namespace {

/// Workers that ended, or whose last heartbeat came, before the cutoff $1: a live worker beats
/// every few seconds, so it is never among them.
constexpr const char* kDeadWorkers =
    " FROM llmlb.workers WHERE coalesce(stopped_at, heartbeat_at) < $1::timestamptz"
    " AND heartbeat_at < $1::timestamptz";

}  // namespace

PruneResult prune_calls(Session& session, std::chrono::milliseconds older_than, int batch_size,
                        bool dry_run) {
  PruneResult result;
  auto context = [&] {
    return fmt::format("prune failed after deleting {} call(s)", result.deleted);
  };
  translate_errors(context, [&] {
    pqxx::connection& connection = connection_of(session);
    std::string cutoff;
    {
      pqxx::nontransaction tx(connection);
      const auto r = tx.exec_params(
          "SELECT t::text, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
          " FROM (SELECT clock_timestamp() - $1 * interval '1 millisecond' AS t) x",
          static_cast<double>(older_than.count()));
      cutoff = r[0][0].as<std::string>();
      result.cutoff = r[0][1].as<std::string>();
      if (dry_run) {
        result.deleted = tx.exec_params(
                               "SELECT count(*) FROM llmlb.calls WHERE sent_at < $1::timestamptz"
                               " AND finished_at IS NOT NULL",
                               cutoff)[0][0]
                             .as<long long>();
        result.workers = tx.exec_params(std::string("SELECT count(*)") + kDeadWorkers, cutoff)[0][0]
                             .as<long long>();
        return;
      }
    }
    for (;;) {
      pqxx::work tx(connection);
      // The batch is picked once (a CTE with its LIMIT), then deleted by key: never
      // `WHERE id IN (subquery LIMIT n)`, which may take more than n rows.
      const auto n = tx.exec_params(
                           "WITH c AS (SELECT id FROM llmlb.calls WHERE sent_at < $1::timestamptz"
                           "  AND finished_at IS NOT NULL"
                           "  ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
                           " d AS (DELETE FROM llmlb.calls WHERE id = ANY (ARRAY(SELECT id FROM c))"
                           "  RETURNING 1)"
                           " SELECT count(*) FROM d",
                           cutoff, batch_size)[0][0]
                         .as<long long>();
      tx.commit();
      result.deleted += n;
      if (n < batch_size) {
        break;
      }
    }
    pqxx::work tx(connection);
    result.workers = tx.exec_params(std::string("WITH d AS (DELETE") + kDeadWorkers +
                                        " RETURNING 1) SELECT count(*) FROM d",
                                    cutoff)[0][0]
                         .as<long long>();
    tx.commit();
  });
  return result;
}

}  // namespace llmlb::db
