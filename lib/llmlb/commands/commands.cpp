#include "llmlb/commands/commands.hpp"

#include <fmt/format.h>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "llmlb/db/conninfo.hpp"
#include "llmlb/db/queries/models.hpp"
#include "llmlb/db/queries/tasks.hpp"
#include "llmlb/db/schema.hpp"
#include "llmlb/db/session.hpp"
#include "llmlb/enqueue/jsonl.hpp"
#include "llmlb/error.hpp"
#include "llmlb/models/limits.hpp"
#include "llmlb/util/duration.hpp"
#include "llmlb/work/worker.hpp"

namespace llmlb::commands {
namespace {

std::chrono::milliseconds duration_arg(const char* option, const std::string& text) {
  auto d = util::parse_duration(text);
  if (!d) {
    throw UsageError(fmt::format("{}: {}", option, d.error()));
  }
  return d.value();
}

}  // namespace

int migrate(const Globals& g) {
  db::Session session(g.database_url);
  const auto report = db::apply_migrations(session);
  if (report.applied.empty()) {
    std::cout << fmt::format("llmlb: schema is up to date ({} migrations)\n", report.already);
  } else {
    std::cout << fmt::format("llmlb: applied {} migration(s): {}\n", report.applied.size(),
                             fmt::join(report.applied, ", "));
  }
  return kExitOk;
}

int limits_set(const Globals& g, const LimitsSetArgs& args) {
  models::LimitsChange change;
  change.name = args.model;
  change.rpm = args.rpm;
  change.burst = args.burst;
  change.max_inflight = args.max_inflight;
  change.preference = args.preference;
  change.enabled = args.enabled;
  auto valid = models::validate(change);
  if (!valid) {
    throw UsageError(valid.error());
  }
  auto session = db::open_checked(g.database_url);
  const auto stored = db::store_limits(session, valid.value());
  std::cout << models::format_table({stored});
  return kExitOk;
}

int limits_list(const Globals& g, bool json) {
  auto session = db::open_checked(g.database_url);
  db::ModelRowQuery query;
  query.order = db::ModelRowQuery::Order::preference_then_name;
  const auto all = db::read_model_rows(session, query);
  std::cout << (json ? models::format_json(all) : models::format_table(all));
  return kExitOk;
}

int enqueue(const Globals& g, const EnqueueArgs& args) {
  enqueue::Parsed parsed;
  const std::string source = args.file == "-" ? "standard input" : args.file;
  if (args.file == "-") {
    parsed = enqueue::parse_stream(std::cin);
  } else {
    std::ifstream in(args.file, std::ios::binary);
    if (!in) {
      throw UsageError(fmt::format("cannot read {}: no such file or not readable", args.file));
    }
    parsed = enqueue::parse_stream(in);
  }
  constexpr std::size_t kShown = 20;
  for (std::size_t i = 0; i < parsed.errors.size() && i < kShown; ++i) {
    std::cerr << fmt::format("llmlb: {}: line {}: {}\n", args.skip_invalid ? "warning" : "error",
                             parsed.errors[i].line, parsed.errors[i].message);
  }
  if (parsed.errors.size() > kShown) {
    std::cerr << fmt::format("llmlb: ... and {} more invalid line(s)\n",
                             parsed.errors.size() - kShown);
  }
  if (!parsed.errors.empty() && !args.skip_invalid) {
    throw UsageError(fmt::format(
        "{} invalid line(s) in {}; nothing was inserted (--skip-invalid inserts the {} valid "
        "one(s))",
        parsed.errors.size(), source, parsed.tasks.size()));
  }
  auto session = db::open_checked(g.database_url);
  const auto n = db::insert_tasks(session, parsed.tasks);
  std::cout << fmt::format("llmlb: enqueued {} task(s) from {}{}\n", n, source,
                           parsed.errors.empty()
                               ? std::string()
                               : fmt::format(", skipped {} invalid line(s)", parsed.errors.size()));
  return kExitOk;
}

int work(const Globals& g, const WorkArgs& a) {
  work::WorkOptions o;
  o.database_url = g.database_url;
  o.backend_url = a.backend_url;
  if (const char* token = std::getenv("LLMLB_BACKEND_TOKEN"); token != nullptr && *token != 0) {
    const std::string t(token);
    if (t.find_first_of("\r\n") != std::string::npos) {
      throw UsageError("LLMLB_BACKEND_TOKEN must be one line");
    }
    o.backend_headers.push_back("Authorization: Bearer " + t);
  }
  o.protocol.single_path = a.single_path;
  o.protocol.batch_path = a.batch_path;
  o.protocol.model_field = a.model_field;
  o.protocol.prompt_field = a.prompt_field;
  o.protocol.answer_field = a.answer_field;
  o.protocol.requests_field = a.requests_field;
  o.protocol.results_field = a.results_field;
  o.protocol.error_field = a.error_field;
  if (!a.max_runtime.empty()) {
    o.max_runtime = duration_arg("--max-runtime", a.max_runtime);
  }
  o.drain_timeout = duration_arg("--drain-timeout", a.drain_timeout);
  o.term_grace = duration_arg("--term-grace", a.term_grace);
  o.until_empty = a.until_empty;
  if (a.max_tasks) {
    o.max_tasks = *a.max_tasks;
  }
  o.models = a.models;
  o.max_inflight_total = a.max_inflight_total;
  o.request_timeout = duration_arg("--request-timeout", a.request_timeout);
  if (a.endpoint == "single") {
    o.endpoint = work::Endpoint::single;
  } else if (a.endpoint == "batch") {
    o.endpoint = work::Endpoint::batch;
  } else {
    throw UsageError(fmt::format("--endpoint must be single or batch, not '{}'", a.endpoint));
  }
  o.batch_size = a.batch_size;
  o.max_attempts = a.max_attempts;
  o.poll_interval = duration_arg("--poll-interval", a.poll_interval);
  o.lease = duration_arg("--lease", a.lease);
  o.progress_interval = duration_arg("--progress-interval", a.progress_interval);
  o.db_retry_timeout = duration_arg("--db-retry-timeout", a.db_retry_timeout);
  o.backoff_base = duration_arg("--backoff-base", a.backoff_base);
  o.backoff_max = duration_arg("--backoff-max", a.backoff_max);
  if (a.max_response_bytes < 64 || a.max_prompt_bytes < 1) {
    throw UsageError("--max-response-bytes must be at least 64 and --max-prompt-bytes at least 1");
  }
  o.max_response_bytes = static_cast<std::size_t>(a.max_response_bytes);
  o.max_prompt_bytes = static_cast<std::size_t>(a.max_prompt_bytes);
  if (a.log_format == "text") {
    o.log_format = util::LogFormat::text;
  } else if (a.log_format == "json") {
    o.log_format = util::LogFormat::json;
  } else {
    throw UsageError(fmt::format("--log-format must be text or json, not '{}'", a.log_format));
  }
  o.live_table = a.stderr_is_tty && !a.no_live && o.log_format == util::LogFormat::text;
  if (auto ok = work::validate(o); !ok) {
    throw UsageError(ok.error());
  }
  if (auto ok = db::check_conninfo(o.database_url); !ok) {
    throw UsageError(ok.error());
  }
  work::Worker worker(o, util::Logger(o.log_format));
  return worker.run().exit_code;
}

}  // namespace llmlb::commands
