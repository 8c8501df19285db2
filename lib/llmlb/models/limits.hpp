// Model limits: the per-model rate (rpm, burst), concurrency (max_inflight), switch and
// preference kept in llmlb.models. Every running worker reads them on every claim.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "llmlb/util/result.hpp"

#include <pqxx/connection>

namespace llmlb::models {

/// One model's configured limits, as stored.
struct ModelLimits {
  std::string name;
  double rpm = 0;        ///< target requests per minute, > 0
  int burst = 1;         ///< token-bucket depth, >= 1
  int max_inflight = 1;  ///< live leases allowed at once, >= 1
  bool enabled = true;
  int preference = 100;    ///< lower is filled first with unpinned tasks
  std::string updated_at;  ///< database time of the last change, ISO 8601
};

/// A requested change: unset fields keep their stored value (or a default for a new model).
struct LimitsChange {
  std::string name;
  std::optional<std::string> rpm, burst, max_inflight, preference;  ///< as typed by the user
  std::optional<bool> enabled;
};

/// A validated change, ready to store.
struct ValidChange {
  std::string name;
  std::optional<double> rpm;
  std::optional<int> burst, max_inflight, preference;
  std::optional<bool> enabled;
};

/// Checks a model name: 1..200 characters, no whitespace, commas or control characters.
util::Result<bool> check_model_name(const std::string& name);

/// Validates every field of `change`; the failure names the option and the rule, e.g.
/// "invalid --rpm '-5': must be a number greater than 0".
util::Result<ValidChange> validate(const LimitsChange& change);

/// Creates or updates one model in a single transaction and returns the stored row. A new
/// model needs rpm (UsageError otherwise); its burst defaults to one second of rpm (at least 1)
/// and its max_inflight to 50. Throws DatabaseError on database failures.
ModelLimits apply(pqxx::connection& connection, const ValidChange& change);

/// Every configured model, by preference then name. Throws DatabaseError.
std::vector<ModelLimits> list(pqxx::connection& connection);

/// A fixed-width table for people, one header line and one line per model.
std::string format_table(const std::vector<ModelLimits>& models);

/// A JSON array of objects with the ModelLimits field names.
std::string format_json(const std::vector<ModelLimits>& models);

}  // namespace llmlb::models
