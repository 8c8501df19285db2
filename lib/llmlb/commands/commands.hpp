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

/// `llmlb migrate`: applies pending migrations; prints what it did. Returns 0.
int migrate(const Globals& g);

struct LimitsSetArgs {
  std::string model;
  std::optional<std::string> rpm, burst, max_inflight, preference;
  std::optional<bool> enabled;
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

/// Arguments of `llmlb work`, as typed (durations are parsed and validated here).
struct WorkArgs {
  std::string backend_url;
  std::string max_runtime, drain_timeout = "30s", term_grace = "20s";
  bool until_empty = false;
  std::optional<long long> max_tasks;
  std::vector<std::string> models;
  int max_inflight_total = 512;
  std::string request_timeout = "180s";
  std::string endpoint = "single";
  int batch_size = 10;
  int max_attempts = 5;
  std::string poll_interval = "200ms", lease = "60s", progress_interval = "10s";
  std::string db_retry_timeout = "60s", backoff_base = "1s", backoff_max = "60s";
  long long max_response_bytes = 16 << 20;
  long long max_prompt_bytes = 4 << 20;
  std::string log_format = "text";
  bool no_live = false;
  bool stderr_is_tty = false;
  std::string single_path = "/single", batch_path = "/batch", model_field = "model",
              prompt_field = "prompt", answer_field = "answer", requests_field = "requests",
              results_field = "results", error_field = "error";
};
/// `llmlb work`: validates everything first (UsageError), then runs the worker. Returns the
/// worker's exit code (0, 1, or 128+signal when forced by a second signal).
int work(const Globals& g, const WorkArgs& args);

}  // namespace llmlb::commands
