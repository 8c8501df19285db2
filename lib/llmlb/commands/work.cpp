#include "llmlb/commands/work.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdlib>

#include "llmlb/db/connection.hpp"
#include "llmlb/db/worker_store.hpp"
#include "llmlb/error.hpp"
#include "llmlb/util/duration.hpp"
#include "llmlb/work/worker.hpp"

namespace llmlb::commands {
namespace {

using Millis = std::chrono::milliseconds;

/// A duration option: text bound to `text`, its default shown from `shown`.
CLI::Option* duration_option(CLI::App* cmd, const std::string& name, std::string& text,
                             Millis shown, const std::string& help) {
  return cmd->add_option(name, text, help)
      ->type_name("DURATION")
      ->default_str(util::format_duration(shown));
}

/// A whole number written in decimal: CLI11 reads integers with strtoll's base 0, so "0x10"
/// would be 16 and "010" 8, and an unsigned option would take "-1" as its largest value. This
/// transform rejects anything but [-]digits ("-" only when `allow_negative`) and drops leading
/// zeros before CLI11 converts the text.
CLI::Validator decimal(bool allow_negative) {
  return CLI::Validator(
      [allow_negative](std::string& text) -> std::string {
        std::size_t digits = text.size() > 1 && text[0] == '-' && allow_negative ? 1 : 0;
        const bool ok = text.size() > digits &&
                        text.find_first_not_of("0123456789", digits) == std::string::npos;
        if (!ok) {
          return allow_negative ? "must be a whole number in decimal digits"
                                : "must be a non-negative whole number in decimal digits";
        }
        while (text.size() > digits + 1 && text[digits] == '0') {
          text.erase(digits, 1);
        }
        return std::string();
      },
      "", "decimal");
}

void parse_into(const char* option, const std::string& text, Millis& out) {
  if (text.empty()) {
    return;
  }
  auto d = util::parse_duration(text);
  if (!d) {
    throw UsageError(fmt::format("{}: {}", option, d.error()));
  }
  out = d.value();
}

}  // namespace

CLI::App* add_work_command(CLI::App& app, WorkArgs& a) {
  auto* w = app.add_subcommand("work", "Claim tasks under the quotas and solve them");
  auto& o = a.options;
  w->add_option("--backend-url", o.backend_url, "Models Backend base URL")
      ->envname("LLMLB_BACKEND_URL")
      ->type_name("URL");
  w->add_option("--max-runtime", a.max_runtime, "Stop claiming after this long, e.g. 5m")
      ->type_name("DURATION");
  duration_option(w, "--drain-timeout", a.drain_timeout, o.drain_timeout,
                  "After --max-runtime, wait this long for calls in flight");
  duration_option(w, "--term-grace", a.term_grace, o.term_grace,
                  "After SIGTERM/SIGINT, wait this long for calls in flight");
  w->add_flag("--until-empty", o.until_empty, "Exit once nothing is left to claim");
  w->add_option("--max-tasks", o.max_tasks, "Claim at most this many tasks")
      ->transform(decimal(true));
  w->add_option("--models", o.models, "Serve only these models (comma-separated)")->delimiter(',');
  w->add_option("--max-inflight-total", o.max_inflight_total, "Calls in flight in this process")
      ->transform(decimal(true))
      ->capture_default_str();
  duration_option(w, "--request-timeout", a.request_timeout, o.request_timeout,
                  "Timeout of one backend call");
  w->add_option("--endpoint", a.endpoint, "single (streaming, default) or batch")
      ->default_str("single");
  w->add_option("--batch-size", o.batch_size, "Tasks per batch call with --endpoint batch")
      ->transform(decimal(true))
      ->capture_default_str();
  w->add_option("--max-attempts", o.max_attempts, "Calls per task before it fails")
      ->transform(decimal(true))
      ->capture_default_str();
  duration_option(w, "--poll-interval", a.poll_interval, o.poll_interval,
                  "Idle poll for new tasks, and the longest gap between claims for every model "
                  "(<= 250ms)");
  duration_option(w, "--lease", a.lease, o.lease, "Lease length; renewed while the call runs");
  duration_option(w, "--progress-interval", a.progress_interval, o.progress_interval,
                  "Progress line interval");
  duration_option(w, "--db-retry-timeout", a.db_retry_timeout, o.db_retry_timeout,
                  "Give up after the database has been unreachable this long");
  duration_option(w, "--backoff-base", a.backoff_base, o.backoff_base,
                  "First retry delay after a failure");
  duration_option(w, "--backoff-max", a.backoff_max, o.backoff_max, "Longest retry delay");
  duration_option(w, "--max-retry-after", a.max_retry_after, o.protocol.max_retry_after,
                  "Longest Retry-After honoured (retry delay and shared 429 cooldown); longer "
                  "ones are cut to this (1s to 1h)");
  w->add_flag("--no-overload-protection", a.no_overload_protection,
              "Do not lower a model's calls in flight when its calls time out, it answers "
              "503/529, or its latency climbs (overload protection is on by default)");
  w->add_option("--overload-latency-ratio", o.overload_latency_ratio,
                "Median latency above this many times the model's baseline counts as overload "
                "(0: off)")
      ->capture_default_str();
  w->add_flag("--accept-empty-answers", o.protocol.accept_empty_answers,
              "Store an empty or blank answer as the solution (default: retry it)");
  w->add_option("--max-response-bytes", o.max_response_bytes, "Largest backend reply")
      ->transform(decimal(false))
      ->capture_default_str();
  w->add_option("--max-prompt-bytes", o.max_prompt_bytes, "Longer prompts fail, unsent")
      ->transform(decimal(false))
      ->capture_default_str();
  w->add_option("--log-format", a.log_format, "text or json")->default_str("text");
  w->add_flag("--no-live", a.no_live, "Print progress lines even on a terminal");
  auto& p = o.protocol;
  w->add_option("--single-path", p.single_path, "Backend path of single calls")
      ->capture_default_str();
  w->add_option("--batch-path", p.batch_path, "Backend path of batch calls")->capture_default_str();
  w->add_option("--model-field", p.model_field, "JSON field for the model")->capture_default_str();
  w->add_option("--prompt-field", p.prompt_field, "JSON field for the prompt")
      ->capture_default_str();
  w->add_option("--answer-field", p.answer_field, "JSON field of the answer")
      ->capture_default_str();
  w->add_option("--requests-field", p.requests_field, "JSON field of a batch's requests")
      ->capture_default_str();
  w->add_option("--results-field", p.results_field, "JSON field of a batch's results")
      ->capture_default_str();
  w->add_option("--error-field", p.error_field, "JSON field of a batch item's error")
      ->capture_default_str();
  w->add_option("--usage-prompt-path", p.usage_prompt_path,
                "Dotted path of the prompt tokens a response reports (empty: none)")
      ->capture_default_str();
  w->add_option("--usage-completion-path", p.usage_completion_path,
                "Dotted path of the completion tokens a response reports (empty: none)")
      ->capture_default_str();
  w->footer(
      "The backend token, if any, is read from LLMLB_BACKEND_TOKEN and sent as a Bearer "
      "token.\nExample: llmlb work --backend-url http://127.0.0.1:8000 --max-runtime 4m "
      "--drain-timeout 30s");
  return w;
}

int work(const Globals& g, WorkArgs a) {
  auto& o = a.options;
  o.database_url = g.database_url;
  if (const char* token = std::getenv("LLMLB_BACKEND_TOKEN"); token != nullptr && *token != 0) {
    const std::string t(token);
    if (t.find_first_of("\r\n") != std::string::npos) {
      throw UsageError("LLMLB_BACKEND_TOKEN must be one line");
    }
    o.backend_headers.push_back("Authorization: Bearer " + t);
    o.protocol.secrets.push_back(t);  // never echoed into tasks.last_error
  }
  if (auto password = work::url_password(o.backend_url); !password.empty()) {
    o.protocol.secrets.push_back(password);
  }
  if (!a.max_runtime.empty()) {
    o.max_runtime = Millis(0);
    parse_into("--max-runtime", a.max_runtime, *o.max_runtime);
  }
  parse_into("--drain-timeout", a.drain_timeout, o.drain_timeout);
  parse_into("--term-grace", a.term_grace, o.term_grace);
  parse_into("--request-timeout", a.request_timeout, o.request_timeout);
  parse_into("--poll-interval", a.poll_interval, o.poll_interval);
  parse_into("--lease", a.lease, o.lease);
  parse_into("--progress-interval", a.progress_interval, o.progress_interval);
  parse_into("--db-retry-timeout", a.db_retry_timeout, o.db_retry_timeout);
  parse_into("--backoff-base", a.backoff_base, o.backoff_base);
  parse_into("--backoff-max", a.backoff_max, o.backoff_max);
  parse_into("--max-retry-after", a.max_retry_after, o.protocol.max_retry_after);
  if (a.endpoint == "batch") {
    o.endpoint = work::Endpoint::batch;
  } else if (!a.endpoint.empty() && a.endpoint != "single") {
    throw UsageError(fmt::format("--endpoint must be single or batch, not '{}'", a.endpoint));
  }
  if (a.log_format == "json") {
    o.log_format = util::LogFormat::json;
  } else if (!a.log_format.empty() && a.log_format != "text") {
    throw UsageError(fmt::format("--log-format must be text or json, not '{}'", a.log_format));
  }
  o.live_table = a.stderr_is_tty && !a.no_live && o.log_format == util::LogFormat::text;
  o.overload_protection = !a.no_overload_protection;
  if (auto ok = work::validate(o); !ok) {
    throw UsageError(ok.error());
  }
  if (auto ok = db::check_conninfo(o.database_url); !ok) {
    throw UsageError(ok.error());
  }
  const auto url = o.database_url;
  work::Worker worker(o, util::Logger(o.log_format),
                      [url](const std::string& id) { return db::open_worker_store(url, id); });
  return worker.run().exit_code;
}

}  // namespace llmlb::commands
