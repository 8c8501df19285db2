#include "llmlb/commands/tasks.hpp"

#include <fmt/format.h>
#include <iostream>

#include "llmlb/db/conninfo.hpp"
#include "llmlb/db/queries/tasks.hpp"
#include "llmlb/db/session.hpp"
#include "llmlb/error.hpp"
#include "llmlb/models/limits.hpp"
#include "llmlb/util/duration.hpp"
#include "llmlb/util/numbers.hpp"

namespace llmlb::commands {
namespace {

db::TaskFilter parse_filter(const TaskFilterArgs& a) {
  db::TaskFilter f;
  if (!a.model.empty()) {
    if (auto ok = models::check_model_name(a.model); !ok) {
      throw UsageError(fmt::format("--model: {}", ok.error()));
    }
    f.model = a.model;
  }
  if (!a.error.empty()) {
    f.error = a.error;
  }
  if (!a.since.empty()) {
    auto d = util::parse_duration(a.since);
    if (!d || d.value().count() < 1000 || d.value().count() > 3660LL * 86'400'000) {
      throw UsageError(
          fmt::format("--since: '{}' must be a duration from 1s to 3660d, e.g. 2h", a.since));
    }
    f.since_seconds = static_cast<double>(d.value().count()) / 1000.0;
  }
  if (!a.ids.empty()) {
    std::string::size_type start = 0;
    for (;;) {
      const auto comma = a.ids.find(',', start);
      const auto item = a.ids.substr(start, comma == std::string::npos ? comma : comma - start);
      auto id = util::parse_int(item, 1, INT64_MAX);
      if (!id) {
        throw UsageError(fmt::format(
            "--ids: '{}' is not a comma-separated list of task ids, e.g. 1,2,3", a.ids));
      }
      f.ids.push_back(id.value());
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
  }
  if (a.batch_size < 1 || a.batch_size > 1'000'000) {
    throw UsageError(
        fmt::format("--batch-size must be between 1 and 1000000, not {}", a.batch_size));
  }
  return f;
}

}  // namespace

int requeue(const Globals& g, const TaskFilterArgs& a) {
  const auto filter = parse_filter(a);
  if (auto ok = db::check_conninfo(g.database_url); !ok) {
    throw UsageError(ok.error());
  }
  auto session = db::open_checked(g.database_url);
  const auto n = db::requeue_tasks(session, filter, a.dry_run, static_cast<int>(a.batch_size));
  std::cout << (a.dry_run ? fmt::format("llmlb: would requeue {} task(s); nothing changed\n", n)
                          : fmt::format("llmlb: requeued {} task(s)\n", n));
  return kExitOk;
}

int cancel(const Globals& g, const TaskFilterArgs& a) {
  const auto filter = parse_filter(a);
  if (!filter.model && !filter.error && !filter.since_seconds && filter.ids.empty()) {
    throw UsageError("cancel needs a filter: --model, --error, --since or --ids");
  }
  if (auto ok = db::check_conninfo(g.database_url); !ok) {
    throw UsageError(ok.error());
  }
  auto session = db::open_checked(g.database_url);
  const auto n = db::cancel_tasks(session, filter, a.include_failed, a.dry_run,
                                  static_cast<int>(a.batch_size));
  std::cout << (a.dry_run ? fmt::format("llmlb: would cancel {} task(s); nothing changed\n", n)
                          : fmt::format("llmlb: cancelled {} task(s)\n", n));
  return kExitOk;
}

}  // namespace llmlb::commands
