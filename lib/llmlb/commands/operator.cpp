#include "llmlb/commands/operator.hpp"

#include <fmt/format.h>
#include <iostream>
#include <optional>

#include "llmlb/db/conninfo.hpp"
#include "llmlb/db/queries/calls.hpp"
#include "llmlb/db/queries/report.hpp"
#include "llmlb/db/session.hpp"
#include "llmlb/error.hpp"
#include "llmlb/report/html.hpp"
#include "llmlb/report/output_file.hpp"
#include "llmlb/status/load.hpp"
#include "llmlb/status/render.hpp"
#include "llmlb/status/watch.hpp"
#include "llmlb/util/duration.hpp"

namespace llmlb::commands {
namespace {

/// Parses a duration option that must lie in [min, max].
std::chrono::milliseconds duration_in(const char* option, const std::string& text,
                                      std::chrono::milliseconds min,
                                      std::chrono::milliseconds max) {
  auto d = util::parse_duration(text);
  if (!d) {
    throw UsageError(fmt::format("{}: {}", option, d.error()));
  }
  if (d.value() < min || d.value() > max) {
    throw UsageError(fmt::format("{}: '{}' must be between {} and {}", option, text,
                                 util::format_duration(min), util::format_duration(max)));
  }
  return d.value();
}

std::string render(const std::string& format, const status::StatusSnapshot& s) {
  if (format == "json") {
    return status::render_status_json(s);
  }
  if (format == "prometheus") {
    return status::render_status_prometheus(s);
  }
  return status::render_status_table(s);
}

}  // namespace

int status(const Globals& g, const StatusArgs& a) {
  std::string format = a.format.empty() ? (a.json ? "json" : "table") : a.format;
  if (format != "table" && format != "json" && format != "prometheus") {
    throw UsageError(fmt::format("--format must be table, json or prometheus, not '{}'", a.format));
  }
  if (a.json && format != "json") {
    throw UsageError(fmt::format("--json conflicts with --format {}", format));
  }
  if (a.watch && format != "table") {
    throw UsageError("--watch redraws the table; use it without --json or --format");
  }
  using std::chrono::milliseconds;
  const auto interval =
      duration_in("--interval", a.interval, milliseconds(100), milliseconds(3'600'000));
  status::StatusWindows windows;
  windows.outcome_seconds =
      static_cast<double>(
          duration_in("--window", a.window, milliseconds(10'000), milliseconds(7 * 86'400'000))
              .count()) /
      1000.0;
  if (auto ok = db::check_conninfo(g.database_url); !ok) {
    throw UsageError(ok.error());
  }
  std::optional<db::Session> session = db::open_checked(g.database_url);
  if (!a.watch) {
    std::cout << render(format, status::load(*session, windows)) << std::flush;
    return kExitOk;
  }
  const std::string every = util::format_duration(interval);
  auto frame = [&]() -> std::string {
    std::string head = fmt::format("Every {}; Ctrl-C to stop.\n", every);
    try {
      // A fresh connection for every refresh: an idle watcher holds no connection that a server
      // restart could break (the 6.x C++ client also leaks a result when a transaction begins on a
      // connection the server already closed), and a database that comes back is picked up.
      if (!session) {
        session.emplace(g.database_url);
      }
      std::string text = status::render_status_table(status::load(*session, windows));
      session.reset();
      return head + text;
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& e) {
      session.reset();
      return head + fmt::format("llmlb: error: {} (retrying every {})\n",
                                db::redact(g.database_url, e.what()), every);
    }
  };
  return status::watch(frame, interval);
}

int report(const Globals& g, const ReportArgs& a) {
  using std::chrono::milliseconds;
  const auto window =
      duration_in("--since", a.since, milliseconds(1000), milliseconds(3660LL * 86'400'000));
  if (a.output.empty()) {
    throw UsageError("--output is required, e.g. --output report.html");
  }
  if (auto ok = db::check_conninfo(g.database_url); !ok) {
    throw UsageError(ok.error());
  }
  report::PendingFile out(a.output);  // fails here, before any query, when it cannot be written
  auto session = db::open_checked(g.database_url);
  const auto data = db::read_report(session, window, a.since);
  out.commit(report::render_report_html(data));
  long long calls = 0;
  for (const auto& m : data.models) {
    calls += m.calls();
  }
  std::cout << fmt::format("llmlb: wrote {} (last {}: {} call(s), {} model(s))\n", a.output,
                           a.since, calls, data.models.size());
  return kExitOk;
}

int prune(const Globals& g, const PruneArgs& a) {
  using std::chrono::milliseconds;
  const auto older = duration_in("--older-than", a.older_than, milliseconds(1000),
                                 milliseconds(3660LL * 86'400'000));
  if (a.batch_size < 1 || a.batch_size > 1'000'000) {
    throw UsageError(
        fmt::format("--batch-size must be between 1 and 1000000, not {}", a.batch_size));
  }
  if (auto ok = db::check_conninfo(g.database_url); !ok) {
    throw UsageError(ok.error());
  }
  auto session = db::open_checked(g.database_url);
  const auto r = db::prune_calls(session, older, static_cast<int>(a.batch_size), a.dry_run);
  std::cout << fmt::format(
      "llmlb: {} {} call(s) sent before {} (older than {}) and {} ended worker row(s); tasks "
      "untouched\n",
      a.dry_run ? "would prune" : "pruned", r.deleted, r.cutoff, a.older_than, r.workers);
  return kExitOk;
}

}  // namespace llmlb::commands
