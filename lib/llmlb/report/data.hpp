// The data behind `llmlb report`: the call log and task history of a time window, bucketed.
// Filled by db::read_report() (db/queries/report.hpp), rendered by render_report_html()
// (html.hpp).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmlb/db/model_row.hpp"

namespace llmlb::report {

/// One model in the report window: the shared per-model row (current limits; limits have no
/// history) plus its traffic in the window. A name from the call log that llmlb.models no
/// longer holds has configured = false.
struct ReportModel : db::ModelRow {
  std::vector<long long> sent;  ///< requests sent per bucket (calls + live leases)
  long long ok = 0, transient = 0, permanent = 0, other = 0;  ///< calls by outcome
  long long peak_minute = 0;      ///< most calls in any 60 s window starting at one of its calls
  long long latency_samples = 0;  ///< ok calls with a latency
  std::optional<double> p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms;
  /// Issue 17, the token estimator's error over the window's answered calls that reserved
  /// tokens: how many, the tokens reserved and settled (actual) in total, and how many took
  /// more than was reserved.
  long long token_calls = 0, tokens_reserved = 0, tokens_settled = 0, under_reserved = 0;

  long long calls() const { return ok + transient + permanent + other; }
};

/// Everything `llmlb report` shows. Bucket i covers [start + i*bucket, start + (i+1)*bucket).
struct ReportData {
  std::string since;         ///< the window as the user typed it, e.g. "1h"
  std::string generated_at;  ///< database clock, ISO 8601 UTC
  double start_epoch = 0;    ///< window start, Unix seconds (database clock)
  double stop_epoch = 0;     ///< window end = generation time
  int buckets = 0;
  double bucket_seconds = 0;
  std::vector<ReportModel> models;  ///< configured by preference, then others by name
  long long backlog_at_start = 0;   ///< unsolved (incl. in flight) tasks at start_epoch
  std::vector<long long> created, solved, failed;         ///< tasks per bucket
  std::vector<std::pair<std::string, long long>> errors;  ///< failed calls by class, most first

  /// Backlog at the end of each bucket: backlog_at_start + created − solved − failed so far,
  /// never below 0. Has `buckets` entries.
  std::vector<long long> backlog() const;
};

}  // namespace llmlb::report
