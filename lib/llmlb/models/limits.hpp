// Model limits: the per-model rate (rpm, burst), concurrency (max_inflight), switch and
// preference kept in llmlb.models. Every running worker reads them on every claim. This unit
// validates changes and formats rows; db/queries/models.hpp reads and stores them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "llmlb/db/model_row.hpp"
#include "llmlb/util/result.hpp"

namespace llmlb::models {

/// One model's configured limits, as stored: the shared per-model row (db/model_row.hpp), of
/// which `limits` shows the configuration columns.
using ModelLimits = db::ModelRow;

/// A requested change: unset fields keep their stored value (or a default for a new model).
struct LimitsChange {
  std::string name;
  std::optional<std::string> rpm, burst, max_inflight, preference;  ///< as typed by the user
  std::optional<bool> enabled;
  std::optional<std::string> probe_interval;  ///< a duration: how often a suspended model is probed
};

/// A validated change, ready to store.
struct ValidChange {
  std::string name;
  std::optional<double> rpm;
  std::optional<int> burst, max_inflight, preference;
  std::optional<bool> enabled;
  std::optional<double> probe_interval_seconds;  ///< 0.1 s .. 1 day
};

/// The largest --burst (and the largest burst derived from --rpm).
inline constexpr int kMaxBurst = 1'000'000;

/// The burst of a new model given without --burst: one second of `rpm` (> 0), rounded up, at
/// least 1 and at most kMaxBurst.
int default_burst(double rpm) noexcept;

/// Checks a model name: 1..200 bytes of valid UTF-8, no whitespace, commas or control
/// characters.
util::Result<bool> check_model_name(const std::string& name);

/// Validates every field of `change`; the failure names the option and the rule, e.g.
/// "invalid --rpm '-5': must be a number greater than 0".
util::Result<ValidChange> validate(const LimitsChange& change);

/// A fixed-width table for people, one header line and one line per model: the configured
/// columns (name, rpm, burst, max_inflight, enabled, preference, updated_at) only.
std::string format_table(const std::vector<ModelLimits>& models);

/// A JSON array of objects with the keys name, rpm, burst, max_inflight, enabled, preference
/// and updated_at (the configured columns of ModelRow; the load figures are left out).
std::string format_json(const std::vector<ModelLimits>& models);

}  // namespace llmlb::models
