// `llmlb work`: its command-line options and the command itself. The options bind straight to
// work::WorkOptions, whose member initialisers are the only place a default is written.
#pragma once

#include <string>

#include "llmlb/commands/commands.hpp"
#include "llmlb/work/options.hpp"

namespace CLI {
class App;
}

namespace llmlb::commands {

/// `llmlb work`'s arguments as parsed. Numbers, flags, model names and protocol fields go
/// straight into `options`; durations and the two enums stay text until work() parses them
/// (empty: keep the default in `options`).
struct WorkArgs {
  work::WorkOptions options;
  std::string max_runtime, drain_timeout, term_grace, request_timeout, poll_interval, lease,
      progress_interval, db_retry_timeout, backoff_base, backoff_max, max_retry_after;
  std::string endpoint, log_format;
  bool no_live = false;
  bool no_overload_protection = false;
  bool stderr_is_tty = false;  ///< set by main: whether a live table can be drawn
};

/// Declares the `work` subcommand on `app` with every option bound to `args`; --help shows
/// each default as WorkOptions has it. Returns the subcommand (owned by `app`).
CLI::App* add_work_command(CLI::App& app, WorkArgs& args);

/// `llmlb work`: parses and validates everything first (UsageError, exit 2, nothing changed),
/// then runs the worker. Returns the worker's exit code (0, 1, or 128+signal when forced by a
/// second signal).
int work(const Globals& g, WorkArgs args);

}  // namespace llmlb::commands
