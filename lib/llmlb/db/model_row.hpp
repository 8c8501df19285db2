// db::ModelRow: the one per-model row of llmlb, read by db::read_model_rows()
// (db/queries/models.hpp). `limits list` prints it, `status` and `report` extend it with their
// own figures (latency, outcomes); the worker's progress line can use it too.
#pragma once

#include <optional>
#include <string>

namespace llmlb::db {

/// One model as llmlb sees it now: its configured limits (llmlb.models), its quota state
/// (llmlb.quota) and its current load (public.tasks, llmlb.calls). A name that waiting tasks are
/// pinned to but that has no configuration can appear too (configured = false; then limits,
/// switch, preference and updated_at keep their defaults below).
struct ModelRow {
  std::string name;
  bool configured = false;  ///< a row of llmlb.models exists
  bool enabled = false;
  double rpm = 0;          ///< target requests per minute
  int burst = 0;           ///< token-bucket depth
  int max_inflight = 0;    ///< live leases allowed at once, all processes
  int preference = 0;      ///< lower is filled first with unpinned tasks
  std::string updated_at;  ///< database time of the last limits change, ISO 8601 UTC
  std::optional<double> cooldown_seconds;  ///< left of a 429 cooldown; unset when none runs
  double rate_factor = 1;                  ///< llmlb.effective_factor now (1 = full rate)
  long long rate_limited_total = 0;        ///< 429 answers counted by llmlb.quota
  long long in_flight = 0;  ///< live leases on this model (pinned or not): = llmlb.live_leases
  long long waiting = 0;    ///< unsolved tasks pinned to this model and not in flight
  long long sent_last_window = 0;  ///< calls sent + leases taken in the query's window
  /// Issue 14: when the model was suspended (ISO 8601 UTC; unset: not suspended), why, and how
  /// often it is probed with one task (llmlb.model_health, llmlb.models).
  std::optional<std::string> suspended_since;
  std::string suspend_reason;
  double probe_interval_seconds = 30;
  /// Issue 16: the calls in flight the model may have now: max_inflight, or less while overload
  /// protection has lowered it (llmlb.note_overload()); then why, and how often it was lowered.
  int effective_max_inflight = 0;  ///< 0: not read (taken as max_inflight)
  std::string overload_reason;     ///< empty unless overloaded()
  long long overload_total = 0;
  /// Issue 17, token budgets (llmlb.models, llmlb.quota): the tokens per minute allowed (unset:
  /// no token budget), the configured bucket depth (unset: the default, 10 s of tpm), the
  /// bucket's effective capacity (llmlb.tpm_capacity; 0 without tpm), its level now (unset:
  /// full, nothing reserved yet), the completion tokens reserved per task (unset: nothing
  /// learned yet) and the estimator's bytes per token.
  std::optional<double> tpm;
  std::optional<int> tpm_burst;
  double tpm_capacity = 0;
  std::optional<double> tpm_level;
  std::optional<double> out_estimate;
  double bytes_per_token = 4;
  /// Tokens settled (actual) by the calls sent in the query's window (0 without token data).
  long long tokens_last_window = 0;

  /// True while overload protection holds the model below its configured max_inflight.
  bool overloaded() const noexcept {
    return effective_max_inflight > 0 && effective_max_inflight < max_inflight;
  }
  /// The calls in flight the model may have now.
  int inflight_limit() const noexcept {
    return overloaded() ? effective_max_inflight : max_inflight;
  }
};

}  // namespace llmlb::db
