// The commands of the llmlb binary. Each takes its parsed arguments, does its work, prints its
// output, and returns the exit code; errors are thrown as llmlb::Error for main to print.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace llmlb::commands {

/// Options every command shares.
struct Globals {
  std::string database_url;  ///< empty: libpq defaults
};

/// `llmlb migrate`: applies pending migrations; prints what it did. Returns 0. With
/// `check_only` (`--check`) it changes nothing and needs no rights beyond reading the ledger:
/// prints that the schema is up to date and returns 0, or throws UsageError (exit 2) saying
/// what is pending, as every other command would.
int migrate(const Globals& g, bool check_only);

struct LimitsSetArgs {
  std::string model;
  std::optional<std::string> rpm, burst, max_inflight, preference;
  std::optional<bool> enabled;
  std::optional<std::string> probe_interval;
  /// Issue 17: --tpm, --tpm-burst, --bytes-per-token as typed.
  std::optional<std::string> tpm, tpm_burst, bytes_per_token;
};
/// `llmlb limits set`: validates before connecting (UsageError, nothing changed), then stores
/// and prints the model's row. Returns 0.
int limits_set(const Globals& g, const LimitsSetArgs& args);

/// `llmlb limits list [--json]`. Returns 0.
int limits_list(const Globals& g, bool json);

struct EnqueueArgs {
  std::string file = "-";
  bool skip_invalid = false;
};
/// `llmlb enqueue`: reads JSON Lines; any invalid line aborts with exit 2 and nothing inserted,
/// unless skip_invalid. Prints how many tasks were inserted.
int enqueue(const Globals& g, const EnqueueArgs& args);

}  // namespace llmlb::commands
