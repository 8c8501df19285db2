// llmlb: a thin command-line front end over lib/. It parses arguments with CLI11, calls the
// library, and maps every error to one line "llmlb: error: ..." and an exit code (README).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "llmlb/commands/commands.hpp"
#include "llmlb/commands/operator.hpp"
#include "llmlb/commands/tasks.hpp"
#include "llmlb/commands/work.hpp"
#include "llmlb/db/conninfo.hpp"
#include "llmlb/error.hpp"

namespace {

using llmlb::commands::Globals;

void add_globals(CLI::App& app, Globals& g) {
  app.add_option("--database-url", g.database_url,
                 "PostgreSQL URL or key=value string (default: $LLMLB_DATABASE_URL, else libpq's "
                 "PGHOST/PGDATABASE/~/.pgpass defaults). Visible to other local users in ps and "
                 "/proc/PID/cmdline: put a password in LLMLB_DATABASE_URL or ~/.pgpass instead")
      ->envname("LLMLB_DATABASE_URL")
      ->type_name("URL");
}

std::optional<std::string> opt(const std::string& s, bool given) {
  return given ? std::optional<std::string>(s) : std::nullopt;
}

int run(int argc, char** argv) {
  CLI::App app{"llmlb: a quota-aware load balancer for LLM tasks kept in PostgreSQL", "llmlb"};
  app.set_version_flag("--version", std::string("llmlb ") + LLMLB_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Examples:\n"
      "  llmlb migrate\n"
      "  llmlb limits set gpt-small --rpm 600 --burst 20 --max-inflight 50\n"
      "  llmlb work --backend-url http://127.0.0.1:8000 --max-runtime 5m\n"
      "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.");
  Globals g;
  add_globals(app, g);

  // migrate
  auto* migrate = app.add_subcommand("migrate", "Create or upgrade llmlb's schema (idempotent)");
  bool migrate_check = false;
  migrate->add_flag("--check", migrate_check,
                    "Change nothing: exit 0 if the schema is current, else 2 (read-only; for "
                    "roles without DDL rights)");
  migrate->footer("Example: LLMLB_DATABASE_URL=postgresql://llmlb@127.0.0.1/llmlb llmlb migrate");

  // limits
  auto* limits = app.add_subcommand("limits", "Show or change per-model limits");
  limits->require_subcommand(1);
  auto* lset = limits->add_subcommand("set", "Create a model or change its limits");
  llmlb::commands::LimitsSetArgs set_args;
  std::string rpm, burst, inflight, pref;
  lset->add_option("model", set_args.model, "Model name")->required();
  auto* rpm_opt = lset->add_option("--rpm", rpm, "Target requests per minute (> 0)");
  auto* burst_opt = lset->add_option("--burst", burst, "Requests allowed at once above the rate");
  auto* inflight_opt =
      lset->add_option("--max-inflight", inflight, "Calls in flight at once, all processes");
  auto* pref_opt = lset->add_option("--preference", pref,
                                    "Order in which models take unpinned tasks (lower first)");
  std::string probe;
  auto* probe_opt = lset->add_option("--probe-interval", probe,
                                     "How often a suspended model is probed with one task (30s)");
  std::string tpm, tpm_burst, bytes_per_token;  // issue 17: token budgets
  auto* tpm_opt =
      lset->add_option("--tpm", tpm, "Tokens per minute (prompt + completion, > 0), or none");
  auto* tpm_burst_opt = lset->add_option(
      "--tpm-burst", tpm_burst, "Tokens allowed at once above the tpm rate, or default (10 s)");
  auto* bpt_opt = lset->add_option("--bytes-per-token", bytes_per_token,
                                   "Token estimator: UTF-8 bytes per token (0.5 to 64; 4)");
  bool enable_flag = false, disable_flag = false;
  auto* enable =
      lset->add_flag("--enable", enable_flag, "Serve this model (resumes it if suspended)");
  auto* disable = lset->add_flag("--disable", disable_flag, "Stop claiming tasks for this model");
  enable->excludes(disable);
  lset->footer(
      "Example: llmlb limits set m0 --rpm 120 --burst 5 --max-inflight 20\n"
      "         llmlb limits set m0 --tpm 90000 --tpm-burst 15000");
  auto* llist = limits->add_subcommand("list", "List the configured models and their limits");
  bool list_json = false;
  llist->add_flag("--json", list_json, "Print JSON");
  llist->footer("Example: llmlb limits list --json");

  // enqueue
  auto* enqueue = app.add_subcommand("enqueue", "Insert tasks from JSON Lines");
  llmlb::commands::EnqueueArgs enq;
  enqueue->add_option("file", enq.file, "JSON Lines file, or - for standard input")
      ->default_val("-");
  enqueue->add_flag("--skip-invalid", enq.skip_invalid,
                    "Insert the valid lines even if some are invalid");
  enqueue->footer(
      "Each line: {\"prompt\": \"...\", \"model\": \"m0\" (optional), \"priority\": 0 "
      "(optional)}\nExample: echo '{\"prompt\": \"hello\"}' | llmlb enqueue -");

  // work
  llmlb::commands::WorkArgs w;
  auto* work = llmlb::commands::add_work_command(app, w);

  // --- operator view: status, report, prune (issue 7) ---
  auto* status = app.add_subcommand("status", "Show backlog, per-model load, workers and an ETA");
  llmlb::commands::StatusArgs st;
  status->add_flag("--json", st.json, "Print JSON (the same as --format json)");
  status->add_option("--format", st.format, "table (default), json or prometheus")
      ->type_name("FORMAT");
  status->add_flag("--watch", st.watch, "Redraw the table in place until Ctrl-C / SIGTERM");
  status->add_option("--interval", st.interval, "Refresh interval of --watch")->default_val("2s");
  status->add_option("--window", st.window, "Window of the error rates and latency percentiles")
      ->default_val("5m");
  status->footer(
      "Example: llmlb status --watch --interval 5s\n"
      "         llmlb status --format prometheus > /var/lib/node_exporter/llmlb.prom.tmp");
  auto* report = app.add_subcommand("report", "Write a self-contained HTML report with charts");
  llmlb::commands::ReportArgs rep;
  report->add_option("--since", rep.since, "Window to report on, ending now, e.g. 1h or 7d")
      ->default_val("1h");
  report->add_option("--output", rep.output, "HTML file to write (atomically)")
      ->required()
      ->type_name("FILE");
  report->footer("Example: llmlb report --since 1h --output report.html");
  auto* prune = app.add_subcommand("prune", "Delete old rows of the call log (never tasks)");
  llmlb::commands::PruneArgs pr;
  prune->add_option("--older-than", pr.older_than, "Delete calls sent longer ago than this")
      ->required()
      ->type_name("DURATION");
  prune->add_option("--batch-size", pr.batch_size, "Rows deleted per transaction")
      ->default_val("10000");
  prune->add_flag("--dry-run", pr.dry_run, "Only count what would be deleted");
  prune->footer("Example: llmlb prune --older-than 7d");
  // --- end operator view ---

  // --- requeue and cancel (issue 14) ---
  llmlb::commands::TaskFilterArgs rq, cn;
  auto add_filters = [](CLI::App* cmd, llmlb::commands::TaskFilterArgs& a) {
    cmd->add_option("--model", a.model, "Only tasks pinned to, answered by or sent to MODEL");
    cmd->add_option("--error", a.error, "Only tasks whose last error contains this text");
    cmd->add_option("--ids", a.ids, "Only these task ids, e.g. 1,2,3")->type_name("IDS");
    cmd->add_option("--batch-size", a.batch_size, "Tasks changed per transaction")
        ->default_val("10000");
    cmd->add_flag("--dry-run", a.dry_run, "Only count the matching tasks; change nothing");
  };
  auto* requeue = app.add_subcommand("requeue", "Put failed tasks back to unsolved, attempts 0");
  add_filters(requeue, rq);
  requeue->add_option("--since", rq.since, "Only tasks that failed within this time, e.g. 2h")
      ->type_name("DURATION");
  requeue->footer("Example: llmlb requeue --error 'HTTP 404' --since 1h --dry-run");
  auto* cancel = app.add_subcommand("cancel", "Set unsolved tasks to cancelled (terminal)");
  add_filters(cancel, cn);
  cancel->add_option("--since", cn.since, "Only tasks created within this time, e.g. 2h")
      ->type_name("DURATION");
  cancel->add_flag("--failed", cn.include_failed, "Cancel failed tasks too");
  cancel->footer("Example: llmlb cancel --model old-model");
  // --- end requeue and cancel ---

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e);
    }
    // CLI11 quotes what it could not place, which may be a URL with a password in it.
    std::string what = e.what();
    for (int i = 1; i < argc; ++i) {
      what = llmlb::db::redact(argv[i], what);
    }
    std::cerr << "llmlb: error: " << what << "\nRun 'llmlb --help' for usage.\n";
    return llmlb::kExitUsage;
  }

  if (*migrate) {
    return llmlb::commands::migrate(g, migrate_check);
  }
  if (*lset) {
    set_args.rpm = opt(rpm, rpm_opt->count() > 0);
    set_args.burst = opt(burst, burst_opt->count() > 0);
    set_args.max_inflight = opt(inflight, inflight_opt->count() > 0);
    set_args.preference = opt(pref, pref_opt->count() > 0);
    set_args.probe_interval = opt(probe, probe_opt->count() > 0);
    set_args.tpm = opt(tpm, tpm_opt->count() > 0);
    set_args.tpm_burst = opt(tpm_burst, tpm_burst_opt->count() > 0);
    set_args.bytes_per_token = opt(bytes_per_token, bpt_opt->count() > 0);
    if (enable_flag) {
      set_args.enabled = true;
    } else if (disable_flag) {
      set_args.enabled = false;
    }
    return llmlb::commands::limits_set(g, set_args);
  }
  if (*llist) {
    return llmlb::commands::limits_list(g, list_json);
  }
  if (*enqueue) {
    return llmlb::commands::enqueue(g, enq);
  }
  if (*work) {
    w.stderr_is_tty = ::isatty(2) != 0;
    return llmlb::commands::work(g, std::move(w));
  }
  // --- operator view dispatch ---
  if (*status) {
    return llmlb::commands::status(g, st);
  }
  if (*report) {
    return llmlb::commands::report(g, rep);
  }
  if (*prune) {
    return llmlb::commands::prune(g, pr);
  }
  // --- end operator view dispatch ---
  if (*requeue) {
    return llmlb::commands::requeue(g, rq);
  }
  if (*cancel) {
    return llmlb::commands::cancel(g, cn);
  }
  return llmlb::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const llmlb::Error& e) {
    std::cerr << "llmlb: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "llmlb: error: internal error: " << e.what() << "\n";
    return llmlb::kExitRuntime;
  }
}
