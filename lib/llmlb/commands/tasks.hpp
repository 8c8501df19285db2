// The task commands of issue 14: `llmlb requeue` (failed tasks back to unsolved) and
// `llmlb cancel` (unsolved tasks to the terminal status cancelled). Each validates every
// argument before touching the database (UsageError, exit 2, nothing changed).
#pragma once

#include <string>

#include "llmlb/commands/commands.hpp"

namespace llmlb::commands {

/// The filters and options of `requeue` and `cancel`, as typed.
struct TaskFilterArgs {
  std::string model, error, since, ids;  ///< empty: not given
  bool dry_run = false;
  long long batch_size = 10000;
  bool include_failed = false;  ///< cancel --failed: cancel failed tasks too
};

/// `llmlb requeue`: prints "llmlb: requeued N task(s)" (or "would requeue" with --dry-run).
int requeue(const Globals& g, const TaskFilterArgs& args);

/// `llmlb cancel`: needs at least one filter; prints "llmlb: cancelled N task(s)".
int cancel(const Globals& g, const TaskFilterArgs& args);

}  // namespace llmlb::commands
