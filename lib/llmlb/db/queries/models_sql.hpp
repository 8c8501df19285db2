// read_model_rows() inside a caller's transaction, so that `status` and `report` read their
// model rows in their own consistent snapshot. Internal to lib/llmlb/db/.
#pragma once

#include <string>
#include <vector>

#include "llmlb/db/queries/models.hpp"

#include <pqxx/transaction_base>

namespace llmlb::db {

/// The rows of read_model_rows() read in `tx`; `now` (a timestamptz literal from the same
/// transaction) is the reference time of cooldowns, rate factors and the window. Throws what
/// libpqxx throws (the caller translates).
std::vector<ModelRow> read_model_rows(pqxx::transaction_base& tx, const ModelRowQuery& query,
                                      const std::string& now);

}  // namespace llmlb::db
