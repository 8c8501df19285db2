// The one query for per-model rows (db::ModelRow) and the one that changes a model's limits.
#pragma once

#include <vector>

#include "llmlb/db/model_row.hpp"
#include "llmlb/db/session.hpp"
#include "llmlb/models/limits.hpp"

namespace llmlb::db {

/// What read_model_rows() returns and in which order.
struct ModelRowQuery {
  /// Order of the configured models: by preference, then by id (the order workers fill them)
  /// or by name (for people).
  enum class Order { preference_then_id, preference_then_name };
  Order order = Order::preference_then_id;
  /// Also return names that waiting tasks are pinned to but that have no configuration
  /// (configured = false), after the configured ones, by name in byte order.
  bool include_unconfigured = false;
  /// The window of ModelRow::sent_last_window, in seconds.
  double window_seconds = 60;
};

/// Every configured model (and, if asked, every unconfigured name with waiting pinned tasks) as
/// a ModelRow, in one read-only statement. Throws DatabaseError "cannot read model limits: ...".
std::vector<ModelRow> read_model_rows(Session& session, const ModelRowQuery& query = {});

/// Creates or updates one model in a single transaction and returns its stored row (configured
/// limits and updated_at; the load figures are 0). A new model needs rpm (UsageError
/// otherwise); its burst defaults to one second of rpm (at least 1), max_inflight to 50,
/// enabled to true and preference to 100; tpm and tpm_burst (issue 17) to NULL (no token
/// budget; the default burst) and bytes_per_token to 4. Throws DatabaseError "cannot store limits
/// of model
/// '<name>': ...".
ModelRow store_limits(Session& session, const models::ValidChange& change);

}  // namespace llmlb::db
