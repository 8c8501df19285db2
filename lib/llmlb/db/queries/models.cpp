#include "llmlb/db/queries/models.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <pqxx/pqxx>

#include "llmlb/db/errors.hpp"
#include "llmlb/db/params.hpp"
#include "llmlb/db/queries/models_sql.hpp"
#include "llmlb/db/session_impl.hpp"

namespace llmlb::db {
namespace {

// $1: now (timestamptz text), $2: window in seconds. In flight = the view llmlb.live_leases
// (token set, not expired at clock_timestamp()). A task whose lease expired is waiting again
// (the next claim's sweep frees it). Every request is in llmlb.calls from its claim on (outcome
// 'sent' while in flight), so the calls of the window include those in flight.
constexpr const char* kModelRows =
    "WITH i AS (SELECT model, count(*) AS in_flight FROM llmlb.live_leases GROUP BY 1),"
    " w AS (SELECT model, count(*) AS waiting FROM public.tasks"
    "  WHERE status = 'unsolved' AND model IS NOT NULL"
    "  AND (lease_token IS NULL OR lease_expires_at <= clock_timestamp())\n"
    "  -- = not in llmlb.live_leases\n"
    "  GROUP BY 1),"
    " c AS (SELECT model, count(*) AS sent,"
    // Issue 17: tokens of the window's calls: settled, else reserved (in flight), else reported.
    "  sum(coalesce(settled_tokens, reserved_tokens, prompt_tokens + completion_tokens)) AS tokens"
    "  FROM llmlb.calls"
    "  WHERE sent_at > $1::timestamptz - $2 * interval '1 second' GROUP BY 1),"
    " n AS (SELECT name FROM llmlb.models{})"
    " SELECT n.name, m.id IS NOT NULL, coalesce(m.enabled, false), coalesce(m.rpm, 0),"
    " coalesce(m.burst, 0), coalesce(m.max_inflight, 0), coalesce(m.preference, 0),"
    " coalesce(to_char(m.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
    " CASE WHEN q.cooldown_until > $1::timestamptz"
    "  THEN extract(epoch FROM q.cooldown_until - $1::timestamptz)::double precision END,"
    " coalesce(llmlb.effective_factor(q, $1::timestamptz), 1),"
    " coalesce(q.rate_limited_total, 0), coalesce(i.in_flight, 0), coalesce(w.waiting, 0),"
    " coalesce(c.sent, 0),"
    " to_char(h.suspended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " coalesce(h.reason, ''), coalesce(m.probe_interval_seconds, 30),"
    " coalesce(llmlb.effective_max_inflight(m.max_inflight, q.inflight_limit), 0),"
    " CASE WHEN q.inflight_limit < m.max_inflight THEN coalesce(q.overload_reason, '') ELSE ''"
    "  END, coalesce(q.overload_total, 0),"
    // Issue 17: the token budget and its bucket now.
    " m.tpm, m.tpm_burst, coalesce(llmlb.tpm_capacity(m.tpm, m.tpm_burst), 0),"
    " CASE WHEN m.tpm IS NOT NULL AND q.tpm_level IS NOT NULL"
    "  THEN least(llmlb.tpm_capacity(m.tpm, m.tpm_burst), q.tpm_level + greatest(0,"
    "  extract(epoch FROM $1::timestamptz - q.tpm_refilled_at)) * m.tpm / 60.0) END,"
    " q.out_estimate, coalesce(m.bytes_per_token, 4), coalesce(c.tokens, 0)::bigint"
    " FROM n LEFT JOIN llmlb.models m ON m.name = n.name"
    " LEFT JOIN llmlb.quota q ON q.model_id = m.id"
    " LEFT JOIN llmlb.model_health h ON h.model_id = m.id AND h.suspended_at IS NOT NULL"
    " LEFT JOIN i ON i.model = n.name LEFT JOIN w ON w.model = n.name"
    " LEFT JOIN c ON c.model = n.name"
    " ORDER BY m.id IS NULL, m.preference, {}, n.name COLLATE \"C\"";

constexpr const char* kStoredColumns =
    "name, rpm, burst, max_inflight, enabled, preference,"
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " tpm, tpm_burst, coalesce(llmlb.tpm_capacity(tpm, tpm_burst), 0), NULL::float8,"
    " NULL::float8, bytes_per_token, 0::bigint";

// Issue 17: the token-budget columns from `first` on: tpm, tpm_burst, capacity, level now,
// output estimate, bytes per token, tokens in the window.
void read_token_budget(const pqxx::row& r, int first, ModelRow& m) {
  if (!r[first].is_null()) {
    m.tpm = r[first].as<double>();
  }
  if (!r[first + 1].is_null()) {
    m.tpm_burst = r[first + 1].as<int>();
  }
  m.tpm_capacity = r[first + 2].as<double>();
  if (!r[first + 3].is_null()) {
    m.tpm_level = r[first + 3].as<double>();
  }
  if (!r[first + 4].is_null()) {
    m.out_estimate = r[first + 4].as<double>();
  }
  m.bytes_per_token = r[first + 5].as<double>();
  m.tokens_last_window = r[first + 6].as<long long>();
}

ModelRow stored_row(const pqxx::row& r) {
  ModelRow m;
  m.name = r[0].as<std::string>();
  m.configured = true;
  m.rpm = r[1].as<double>();
  m.burst = r[2].as<int>();
  m.max_inflight = r[3].as<int>();
  m.enabled = r[4].as<bool>();
  m.preference = r[5].as<int>();
  m.updated_at = r[6].as<std::string>();
  read_token_budget(r, 7, m);
  return m;
}

}  // namespace

std::vector<ModelRow> read_model_rows(pqxx::transaction_base& tx, const ModelRowQuery& query,
                                      const std::string& now) {
  const std::string sql =
      fmt::format(kModelRows, query.include_unconfigured ? " UNION SELECT model FROM w" : "",
                  query.order == ModelRowQuery::Order::preference_then_id ? "m.id" : "m.name");
  std::vector<ModelRow> out;
  for (const auto& r : tx.exec_params(sql, now, query.window_seconds)) {
    ModelRow m;
    m.name = r[0].as<std::string>();
    m.configured = r[1].as<bool>();
    m.enabled = r[2].as<bool>();
    m.rpm = r[3].as<double>();
    m.burst = r[4].as<int>();
    m.max_inflight = r[5].as<int>();
    m.preference = r[6].as<int>();
    m.updated_at = r[7].as<std::string>();
    if (!r[8].is_null()) {
      m.cooldown_seconds = r[8].as<double>();
    }
    m.rate_factor = r[9].as<double>();
    m.rate_limited_total = r[10].as<long long>();
    m.in_flight = r[11].as<long long>();
    m.waiting = r[12].as<long long>();
    m.sent_last_window = r[13].as<long long>();
    if (!r[14].is_null()) {
      m.suspended_since = r[14].as<std::string>();
    }
    m.suspend_reason = r[15].as<std::string>();
    m.probe_interval_seconds = r[16].as<double>();
    m.effective_max_inflight = r[17].as<int>();
    m.overload_reason = r[18].as<std::string>();
    m.overload_total = r[19].as<long long>();
    read_token_budget(r, 20, m);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ModelRow> read_model_rows(Session& session, const ModelRowQuery& query) {
  return translate_errors("cannot read model limits", [&] {
    pqxx::read_transaction tx(connection_of(session));
    const auto now = tx.exec("SELECT clock_timestamp()::text")[0][0].as<std::string>();
    return read_model_rows(tx, query, now);
  });
}

ModelRow store_limits(Session& session, const models::ValidChange& change) {
  return translate_errors(fmt::format("cannot store limits of model '{}'", change.name), [&] {
    pqxx::work tx(connection_of(session));
    const auto existing =
        tx.exec_params("SELECT 1 FROM llmlb.models WHERE name = $1 FOR UPDATE", change.name);
    pqxx::result stored;
    const auto rpm = number_text(change.rpm);
    const auto probe = number_text(change.probe_interval_seconds);
    const auto tpm = number_text(change.tpm);
    const auto bpt = number_text(change.bytes_per_token);
    const std::optional<std::string> enabled =
        change.enabled ? std::optional<std::string>(*change.enabled ? "true" : "false")
                       : std::nullopt;
    if (existing.empty()) {
      if (!change.rpm) {
        throw UsageError(fmt::format("model '{}' is new: --rpm is required", change.name));
      }
      const int burst = change.burst.value_or(models::default_burst(*change.rpm));
      stored = tx.exec_params(
          fmt::format(
              "INSERT INTO llmlb.models (name, rpm, burst, max_inflight, enabled, preference,"
              " probe_interval_seconds, tpm, tpm_burst, bytes_per_token)"
              " VALUES ($1, $2, $3, $4, coalesce($5::boolean, true), coalesce($6::int, 100),"
              " coalesce($7::double precision, 30), $8::double precision, $9::int,"
              " coalesce($10::double precision, 4))"
              " RETURNING {}",
              kStoredColumns),
          change.name, *rpm, burst, change.max_inflight.value_or(50), nullable(enabled),
          nullable(number_text(change.preference)), nullable(probe), nullable(tpm),
          nullable(number_text(change.tpm_burst)), nullable(bpt));
    } else {
      stored = tx.exec_params(
          fmt::format("UPDATE llmlb.models SET rpm = coalesce($2::double precision, rpm),"
                      " burst = coalesce($3::int, burst),"
                      " max_inflight = coalesce($4::int, max_inflight),"
                      " enabled = coalesce($5::boolean, enabled),"
                      " preference = coalesce($6::int, preference),"
                      " probe_interval_seconds = coalesce($7::double precision,"
                      " probe_interval_seconds),"
                      // Issue 17: $10/$11 clear tpm / tpm_burst (NULL: none, the default).
                      " tpm = CASE WHEN $10::boolean THEN NULL"
                      "  ELSE coalesce($8::double precision, tpm) END,"
                      " tpm_burst = CASE WHEN $11::boolean THEN NULL"
                      "  ELSE coalesce($9::int, tpm_burst) END,"
                      " bytes_per_token = coalesce($12::double precision, bytes_per_token)"
                      " WHERE name = $1 RETURNING {}",
                      kStoredColumns),
          change.name, nullable(rpm), nullable(number_text(change.burst)),
          nullable(number_text(change.max_inflight)), nullable(enabled),
          nullable(number_text(change.preference)), nullable(probe), nullable(tpm),
          nullable(number_text(change.tpm_burst)), change.clear_tpm, change.clear_tpm_burst,
          nullable(bpt));
      if (change.enabled && *change.enabled) {
        // --enable resumes a suspended model at once (issue 14).
        tx.exec_params(
            "UPDATE llmlb.model_health h SET suspended_at = NULL, reason = NULL, probe_at = NULL,"
            " error_streak = 0, error_sig = NULL FROM llmlb.models m"
            " WHERE m.name = $1 AND h.model_id = m.id",
            change.name);
      }
    }
    if (change.enabled.value_or(false)) {
      // --enable also ends a 429 cooldown and the reduced rate after it, and forgets the calls
      // in flight overload protection learned (issue 16): the operator says the model can serve
      // now. Quota state is written only under the model's advisory lock.
      tx.exec_params(
          "SELECT pg_advisory_xact_lock(72617, m.id) FROM llmlb.models m WHERE m.name = $1",
          change.name);
      tx.exec_params(
          "UPDATE llmlb.quota q SET cooldown_until = NULL, rate_factor = 1,"
          " factor_at = clock_timestamp(), inflight_limit = NULL, overload_reason = NULL"
          " FROM llmlb.models m"
          " WHERE m.name = $1 AND q.model_id = m.id",
          change.name);
    }
    tx.commit();
    return stored_row(stored[0]);
  });
}

}  // namespace llmlb::db
