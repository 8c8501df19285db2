// Settings of `llmlb work`, with their defaults and validation.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llmlb/backend/protocol.hpp"
#include "llmlb/util/log.hpp"
#include "llmlb/util/result.hpp"

namespace llmlb::work {

using Millis = std::chrono::milliseconds;

enum class Endpoint { single, batch };

struct WorkOptions {
  std::string database_url;                  ///< empty: libpq defaults
  std::string backend_url;                   ///< required, http:// or https://
  std::vector<std::string> backend_headers;  ///< e.g. "Authorization: Bearer …" (secret)
  backend::Protocol protocol;                ///< paths and JSON field names

  std::optional<Millis> max_runtime;      ///< stop claiming after this long
  Millis drain_timeout{30'000};           ///< after max-runtime: wait this long for in-flight
  Millis term_grace{20'000};              ///< after SIGTERM/SIGINT: wait this long
  bool until_empty = false;               ///< exit once nothing is left to claim
  std::optional<std::int64_t> max_tasks;  ///< claim at most this many tasks
  std::vector<std::string> models;        ///< serve only these (empty: all enabled)
  int max_inflight_total = 512;           ///< in-flight tasks of this process
  Millis request_timeout{180'000};
  Endpoint endpoint = Endpoint::single;
  int batch_size = 10;        ///< tasks per /batch call
  int max_attempts = 5;       ///< calls per task before it fails
  Millis poll_interval{200};  ///< idle poll for new tasks, at most 250 ms
  Millis lease{60'000};       ///< lease length; renewed every lease/3
  Millis progress_interval{10'000};
  Millis flush_interval{10};  ///< how long results may wait to be written
  Millis backoff_base{1'000}, backoff_max{60'000};
  Millis db_retry_timeout{60'000};  ///< give up after the database is gone this long
  std::size_t max_response_bytes = 16u << 20;
  std::size_t max_prompt_bytes = 4u << 20;
  util::LogFormat log_format = util::LogFormat::text;
  bool live_table = false;  ///< redraw a per-model table (stderr is a terminal)
  /// Issue 16: report timeouts, 503/529 answers and latency to llmlb.note_overload(), which
  /// lowers a model's calls in flight while it cannot keep up (shared by every process).
  bool overload_protection = true;
  /// A model's median latency above this many times its baseline counts as overload (0: only
  /// timeouts and 503/529 do).
  double overload_latency_ratio = 2.5;
};

/// Checks the options; the failure names the option, e.g. "--batch-size must be from 1 to 1000".
/// The backend URL must be http:// or https:// with a host, an optional port from 1 to 65535,
/// and no blanks or control characters; a failure never repeats its password.
util::Result<bool> validate(const WorkOptions& options);

/// `url` with the password of its userinfo, if any, replaced by "***"
/// ("http://alice:secret@host/" gives "http://alice:***@host/"), for logs and messages.
std::string redact_url(const std::string& url);

/// The password of `url`'s userinfo ("secret" in "http://alice:secret@host"), or "".
std::string url_password(const std::string& url);

}  // namespace llmlb::work
