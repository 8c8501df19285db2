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
  /// Issue 17: tokens per minute ("none" clears it), the token bucket's depth ("default": 10 s
  /// of tpm) and the estimator's bytes per token, as typed by the user.
  std::optional<std::string> tpm, tpm_burst, bytes_per_token;
};

/// A validated change, ready to store.
struct ValidChange {
  std::string name;
  std::optional<double> rpm;
  std::optional<int> burst, max_inflight, preference;
  std::optional<bool> enabled;
  std::optional<double> probe_interval_seconds;  ///< 0.1 s .. 1 day
  /// Issue 17. tpm: > 0 and <= 1e9; tpm_burst: 1 .. 1e9; bytes_per_token: 0.5 .. 64. The clear_
  /// flags set the column to NULL (no token budget; the default burst).
  std::optional<double> tpm;
  bool clear_tpm = false;
  std::optional<int> tpm_burst;
  bool clear_tpm_burst = false;
  std::optional<double> bytes_per_token;
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
/// columns (name, rpm, burst, max_inflight, enabled, preference, updated_at), then, only when a
/// model has a token budget, TPM and TPM_BURST ("-" without tpm; "N*" the default burst).
std::string format_table(const std::vector<ModelLimits>& models);

/// A JSON array of objects with the keys name, rpm, burst, max_inflight, enabled, preference
/// and updated_at (the configured columns of ModelRow; the load figures are left out); for a model
/// with a token budget (issue 17) also tpm, tpm_burst (null: the default), tpm_capacity (the
/// bucket's effective depth) and bytes_per_token.
std::string format_json(const std::vector<ModelLimits>& models);

}  // namespace llmlb::models
