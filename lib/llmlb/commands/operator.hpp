// The operator commands: `llmlb status`, `llmlb report` and `llmlb prune`. Each validates its
// arguments before touching the database (UsageError, exit 2), then works through the units in
// lib/llmlb/status/, lib/llmlb/report/ and lib/llmlb/db/, prints its output and returns the exit
// code.
#pragma once

#include <string>

#include "llmlb/commands/commands.hpp"

namespace llmlb::commands {

/// Arguments of `llmlb status`, as typed.
struct StatusArgs {
  std::string format;  ///< table, json or prometheus; empty: table (or json with --json)
  bool json = false;   ///< --json, the same as --format json
  bool watch = false;  ///< redraw the table every `interval` until SIGINT/SIGTERM
  std::string interval = "2s";
  std::string window = "5m";  ///< window of the success/error rates and latency percentiles
};
/// `llmlb status`: prints the backlog, per-model limits and traffic, live workers and the ETA
/// in the chosen format. An unmigrated database is a UsageError; an empty one prints that
/// nothing is there yet. With watch, connects afresh for every refresh, shows database errors
/// in the frame and retries them, and returns 0 when SIGINT or SIGTERM arrives.
int status(const Globals& g, const StatusArgs& args);

/// Arguments of `llmlb report`, as typed.
struct ReportArgs {
  std::string since = "1h";
  std::string output;
};
/// `llmlb report`: writes a self-contained HTML page about the last `since` to `output`
/// atomically. A bad duration or an unwritable output is a UsageError raised before any query;
/// then nothing is written. Returns 0.
int report(const Globals& g, const ReportArgs& args);

/// Arguments of `llmlb prune`, as typed.
struct PruneArgs {
  std::string older_than;
  long long batch_size = 10000;
  bool dry_run = false;
};
/// `llmlb prune`: deletes call-log rows sent more than `older_than` ago (database clock), in
/// batches, and prints how many; tasks are never touched. A bad duration is a UsageError.
int prune(const Globals& g, const PruneArgs& args);

}  // namespace llmlb::commands
