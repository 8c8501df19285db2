#include "llmlb/commands/commands.hpp"

#include <fmt/format.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "llmlb/db/conninfo.hpp"
#include "llmlb/db/migrations.hpp"
#include "llmlb/db/queries/models.hpp"
#include "llmlb/db/queries/tasks.hpp"
#include "llmlb/db/session.hpp"
#include "llmlb/enqueue/jsonl.hpp"
#include "llmlb/error.hpp"
#include "llmlb/models/limits.hpp"
#include "llmlb/util/duration.hpp"

namespace llmlb::commands {

int migrate(const Globals& g, bool check_only) {
  db::Session session(g.database_url);
  if (check_only) {
    db::require_current_schema(session);
    std::cout << fmt::format("llmlb: schema is up to date ({} migrations, {} function files)\n",
                             db::embedded_migrations().size(), db::embedded_functions().size());
    return kExitOk;
  }
  const auto report = db::migrate(session);
  if (report.applied.empty() && report.functions_applied.empty()) {
    std::cout << fmt::format("llmlb: schema is up to date ({} migrations, {} function files)\n",
                             report.already, report.functions_current);
  } else {
    std::vector<std::string> names = report.applied;
    names.insert(names.end(), report.functions_applied.begin(), report.functions_applied.end());
    std::cout << fmt::format("llmlb: applied {} migration(s) and {} function file(s): {}\n",
                             report.applied.size(), report.functions_applied.size(),
                             fmt::join(names, ", "));
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
  change.probe_interval = args.probe_interval;
  change.tpm = args.tpm;
  change.tpm_burst = args.tpm_burst;
  change.bytes_per_token = args.bytes_per_token;
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
    std::error_code ec;
    if (std::filesystem::is_directory(args.file, ec)) {
      throw UsageError(fmt::format("cannot read {}: it is a directory", args.file));
    }
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

}  // namespace llmlb::commands
