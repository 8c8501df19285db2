#include "llmlb/work/worker.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <unordered_map>

#include "llmlb/backend/outcome.hpp"
#include "llmlb/error.hpp"
#include "llmlb/http/client.hpp"
#include "llmlb/util/text.hpp"
#include "llmlb/work/backoff.hpp"
#include "llmlb/work/claim_schedule.hpp"
#include "llmlb/work/live_table.hpp"
#include "llmlb/work/signals.hpp"
#include "llmlb/work/store.hpp"

namespace llmlb::work {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::duration_cast;

namespace {

constexpr Millis kMinClaimGap{2};
/// The first heartbeat (the llmlb.workers row) waits this long after start, so that the first
/// claim's requests reach the backend before any bookkeeping query runs; a run that ends sooner
/// is recorded by its final heartbeat.
constexpr Millis kFirstHeartbeat{200};

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return duration<double, std::milli>(b - a).count();
}

/// True for errors that mean "the connection is gone or the server is restarting".
bool is_connection_error(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return true;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "53300";
  }
  return dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
}

}  // namespace

std::string make_worker_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device rd;
  return fmt::format("{}:{}:{:06x}", host, ::getpid(), rd() & 0xffffffu);
}

struct Worker::Impl {
  /// A task the backend is answering for us.
  struct InFlight {
    ClaimedTask task;  // prompt emptied once sent
    double send_offset_ms = 0;
  };
  /// One HTTP call: one task (single) or several of one model (batch).
  struct Call {
    std::vector<std::int64_t> task_ids;
    std::string model;
    bool batch = false;  // sent to the batch endpoint
  };

  WorkOptions opt;
  util::Logger log;
  std::string worker_id = make_worker_id();
  std::unique_ptr<Store> store;
  std::unique_ptr<http::Client> client;
  std::mt19937_64 rng{std::random_device{}()};

  std::unordered_map<std::int64_t, InFlight> inflight;
  std::unordered_map<std::uint64_t, Call> calls;
  std::uint64_t next_tag = 1;
  std::vector<TaskResult> results;                             // waiting to be written
  std::map<std::string, std::pair<double, int>> rate_limited;  // model -> (retry-after, count)
  Totals totals;
  std::map<std::string, long long> sent_by_model;

  Clock::time_point started = Clock::now();
  Clock::time_point next_claim = started;
  Clock::time_point last_flush = started;
  Clock::time_point next_heartbeat = started + kFirstHeartbeat;
  Clock::time_point next_progress = started + opt.progress_interval;
  ClaimSchedule schedule{opt.poll_interval};  // when to claim next, and for which models
  long long claims_ok = 0;                    // claims that succeeded; all but the first swept

  // Stopping.
  bool stopping = false;
  std::string stop_reason;
  std::optional<Clock::time_point> stop_deadline;
  int forced_signal = 0;

  // Database health.
  bool db_ok = true;
  Clock::time_point db_down_since{};
  Clock::time_point next_reconnect{};
  Millis reconnect_delay{100};
  bool db_gave_up = false;

  std::unique_ptr<LiveTable> live;
  Figures last_figures;

  Impl(WorkOptions o, util::Logger l) : opt(std::move(o)), log(l) {}

  std::string url_for(const std::string& path) const {
    std::string base = opt.backend_url;
    while (!base.empty() && base.back() == '/') {
      base.pop_back();
    }
    return base + path;
  }

  int free_slots() const { return opt.max_inflight_total - static_cast<int>(inflight.size()); }

  void begin_stop(const std::string& reason, std::optional<Millis> grace) {
    if (stopping) {
      return;
    }
    stopping = true;
    stop_reason = reason;
    if (grace) {
      stop_deadline = Clock::now() + *grace;
    }
    log.write("info", "stopping",
              fmt::format("stopping ({}): no new claims; {} in flight", reason, inflight.size()),
              {util::str("reason", reason),
               util::num("in_flight", static_cast<long long>(inflight.size()))});
  }

  // ---- database, with outage handling ------------------------------------------------------

  /// Runs `op` against the database. On a connection error, marks the database down and returns
  /// false; other errors propagate.
  template <typename Op>
  bool with_db(const char* what, Op&& op) {
    if (!db_ok) {
      return false;
    }
    try {
      op();
      return true;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      if (!is_connection_error(e)) {
        throw DatabaseError(fmt::format("{} failed: {}", what, util::first_line(e.what())));
      }
      db_ok = false;
      db_down_since = Clock::now();
      next_reconnect = db_down_since + reconnect_delay;
      log.write("warn", "db_down",
                fmt::format("lost the database during {}: {}; {} results kept, reconnecting", what,
                            util::first_line(e.what()), results.size()),
                {util::str("during", what),
                 util::num("pending_results", static_cast<long long>(results.size()))});
      return false;
    }
  }

  void try_reconnect(Clock::time_point now) {
    if (db_ok || now < next_reconnect) {
      return;
    }
    try {
      store->reconnect();
      db_ok = true;
      reconnect_delay = Millis(100);
      log.write("info", "db_up",
                fmt::format("database reconnected after {:.1f}s; writing {} kept results",
                            duration<double>(now - db_down_since).count(), results.size()),
                {util::num("pending_results", static_cast<long long>(results.size()))});
      next_heartbeat = now;  // renew leases at once
    } catch (const Error&) {
      reconnect_delay = std::min(Millis(5000), reconnect_delay * 2);
      next_reconnect = now + reconnect_delay;
      if (now - db_down_since > opt.db_retry_timeout) {
        db_gave_up = true;
      }
    }
  }

  // ---- claiming and sending ----------------------------------------------------------------

  void claim(Clock::time_point now) {
    int want = free_slots();
    if (opt.max_tasks) {
      want = static_cast<int>(std::min<std::int64_t>(want, *opt.max_tasks - totals.claimed));
    }
    want = std::min(want, 1000);
    if (want <= 0) {
      return;
    }
    ClaimResult got;
    // Most claims cover only the models that can take a task now; a full one (every model this
    // process serves, opt.models) comes at least every poll interval.
    const auto asked = schedule.plan(now);
    // The first claim skips the sweep of expired leases (it would delay this process's first
    // request); every later one sweeps when due, and finish() sweeps if none did.
    const bool ok = with_db("claim", [&] {
      got = store->claim(want, asked ? *asked : opt.models, duration<double>(opt.lease).count(),
                         claims_ok > 0);
    });
    claims_ok += ok ? 1 : 0;
    const auto after = Clock::now();
    if (!ok) {
      return;
    }
    totals.claimed += static_cast<long long>(got.tasks.size());
    const bool sent_any = !got.tasks.empty();
    dispatch(std::move(got.tasks), after);
    if (sent_any) {
      // Put the requests on the wire now, not after the bookkeeping below: the quota was
      // granted for this moment, and the backend should see them as close to it as possible.
      for (const auto& resp : client->wait(Millis(0))) {
        on_response(resp);
      }
    }

    // When to claim next: at the earliest token or cooldown end, at once for a model stopped at
    // its fair share, after a completion for one held back by slots, and at the next full claim.
    schedule.record(got.models, asked, now);
    next_claim = std::max(now + kMinClaimGap, schedule.next_due());

    if (opt.until_empty && !asked && schedule.all_idle() && got.tasks.empty() && inflight.empty() &&
        results.empty()) {
      bool pending = true;
      if (with_db("until-empty check", [&] { pending = store->has_pending_work(opt.models); }) &&
          !pending) {
        begin_stop("until-empty", std::nullopt);
      }
    }
    if (opt.max_tasks && totals.claimed >= *opt.max_tasks) {
      begin_stop("max-tasks", std::nullopt);
    }
  }

  /// Fails a task locally, without sending it (empty or oversized prompt).
  void reject(const ClaimedTask& t, std::string error, std::string error_class) {
    TaskResult r;
    r.id = t.id;
    r.token = t.token;
    r.model = t.model;
    r.outcome = "permanent";
    r.error = std::move(error);
    r.error_class = std::move(error_class);
    r.claimed_at = t.claimed_at;
    r.sent = false;
    results.push_back(std::move(r));
  }

  void dispatch(std::vector<ClaimedTask> tasks, Clock::time_point claimed_local) {
    std::map<std::string, std::vector<ClaimedTask>> batches;
    for (auto& t : tasks) {
      if (is_blank(t.prompt)) {
        reject(t, "prompt is empty or only whitespace; not sent", "bad_prompt");
        continue;
      }
      if (t.prompt.size() > opt.max_prompt_bytes) {
        reject(t,
               fmt::format("prompt is {} bytes, over --max-prompt-bytes {}; not sent",
                           t.prompt.size(), opt.max_prompt_bytes),
               "bad_prompt");
        continue;
      }
      if (opt.endpoint == Endpoint::single) {
        auto body = backend::encode_single(opt.protocol, t.model, t.prompt);
        if (!body) {
          reject(t, "cannot encode prompt: " + body.error() + "; not sent", "bad_prompt");
          continue;
        }
        send(url_for(opt.protocol.single_path), std::move(body).value(), {std::move(t)},
             claimed_local);
      } else {
        auto& batch = batches[t.model];
        batch.push_back(std::move(t));
        if (static_cast<int>(batch.size()) >= opt.batch_size) {
          send_batch(batch, claimed_local);
          batch.clear();
        }
      }
    }
    for (auto& [model, batch] : batches) {
      if (!batch.empty()) {
        send_batch(batch, claimed_local);
      }
    }
  }

  void send_batch(std::vector<ClaimedTask>& batch, Clock::time_point claimed_local) {
    std::vector<backend::BatchItem> items;
    items.reserve(batch.size());
    for (const auto& t : batch) {
      items.push_back({t.model, t.prompt});
    }
    auto body = backend::encode_batch(opt.protocol, items);
    if (!body) {
      // One bad prompt must not sink the others: send them one by one instead.
      for (auto& t : batch) {
        auto single = backend::encode_single(opt.protocol, t.model, t.prompt);
        if (!single) {
          reject(t, "cannot encode prompt: " + single.error() + "; not sent", "bad_prompt");
        } else {
          send(url_for(opt.protocol.single_path), std::move(single).value(), {std::move(t)},
               claimed_local);
        }
      }
      return;
    }
    send(url_for(opt.protocol.batch_path), std::move(body).value(), std::move(batch), claimed_local,
         true);
  }

  void send(std::string url, std::string body, std::vector<ClaimedTask> tasks,
            Clock::time_point claimed_local, bool batch = false) {
    const auto tag = next_tag++;
    Call call;
    call.model = tasks.front().model;
    call.batch = batch;
    const double offset = ms_between(claimed_local, Clock::now());
    for (auto& t : tasks) {
      call.task_ids.push_back(t.id);
      t.prompt.clear();
      t.prompt.shrink_to_fit();
      sent_by_model[t.model] += 1;
      const auto id = t.id;
      inflight.emplace(id, InFlight{std::move(t), offset});
    }
    calls.emplace(tag, std::move(call));
    client->submit(http::Request{tag, std::move(url), std::move(body), opt.request_timeout});
  }

  // ---- completions -------------------------------------------------------------------------

  void on_response(const http::Response& resp) {
    auto it = calls.find(resp.tag);
    if (it == calls.end()) {
      return;
    }
    Call call = std::move(it->second);
    calls.erase(it);
    const bool batch = call.batch;
    std::vector<backend::Outcome> outcomes;
    if (batch) {
      outcomes = backend::classify_batch(opt.protocol, resp, call.task_ids.size());
    } else {
      outcomes.push_back(backend::classify_single(opt.protocol, resp));
    }
    const double latency_ms = static_cast<double>(resp.elapsed.count()) / 1000.0;
    for (std::size_t i = 0; i < call.task_ids.size(); ++i) {
      auto f = inflight.find(call.task_ids[i]);
      if (f == inflight.end()) {
        continue;
      }
      const auto& o = outcomes[std::min(i, outcomes.size() - 1)];
      const auto& t = f->second.task;
      TaskResult r;
      r.id = t.id;
      r.token = t.token;
      r.model = t.model;
      r.claimed_at = t.claimed_at;
      r.send_offset_ms = f->second.send_offset_ms;
      r.latency_ms = latency_ms;
      r.endpoint = batch ? "batch" : "single";
      r.http_status = o.http_status;
      r.error_class = o.error_class;
      switch (o.kind) {
        case backend::OutcomeKind::ok:
          r.outcome = "ok";
          r.answer = o.answer;
          break;
        case backend::OutcomeKind::permanent:
          r.outcome = "permanent";
          r.error = o.error;
          break;
        case backend::OutcomeKind::transient: {
          r.outcome = "transient";
          r.error = o.error;
          std::uniform_real_distribution<double> u(0.0, 1.0);
          r.retry_seconds = retry_delay_seconds(
              t.attempts + 1, duration<double>(opt.backoff_base).count(),
              duration<double>(opt.backoff_max).count(), o.retry_after_s, u(rng));
          break;
        }
      }
      if (o.rate_limited) {
        auto& rl = rate_limited[t.model];
        rl.first = std::max(rl.first, o.retry_after_s.value_or(1.0));
        rl.second += 1;
      }
      results.push_back(std::move(r));
      inflight.erase(f);
    }
  }

  /// Hands back every task still in flight (the backend may still answer, but nobody listens).
  void release_all_inflight() {
    for (auto& resp : client->cancel_all()) {
      (void)resp;
    }
    for (auto& [id, f] : inflight) {
      TaskResult r;
      r.id = id;
      r.token = f.task.token;
      r.model = f.task.model;
      r.outcome = "release";
      r.claimed_at = f.task.claimed_at;
      r.send_offset_ms = f.send_offset_ms;
      r.endpoint = opt.endpoint == Endpoint::batch ? "batch" : "single";
      r.error_class = "abandoned";
      r.sent = true;
      results.push_back(std::move(r));
    }
    inflight.clear();
    calls.clear();
  }

  void flush() {
    if (results.empty() && rate_limited.empty()) {
      return;
    }
    if (!rate_limited.empty()) {
      const bool ok = with_db("cooldown", [&] {
        for (const auto& [model, rl] : rate_limited) {
          store->note_rate_limited(model, rl.first, rl.second);
        }
      });
      if (!ok) {
        return;
      }
      for (const auto& [model, rl] : rate_limited) {
        log.write("warn", "rate_limited",
                  fmt::format("model {} answered 429 {} time(s); cooling down {:.1f}s", model,
                              rl.second, rl.first),
                  {util::str("model", model), util::num("count", static_cast<long long>(rl.second)),
                   util::num("retry_after", rl.first)});
      }
      rate_limited.clear();
    }
    if (results.empty()) {
      return;
    }
    WriteCounts c;
    if (!with_db("write-back", [&] { c = store->complete(results, opt.max_attempts); })) {
      return;
    }
    totals.solved += c.solved;
    totals.failed += c.failed;
    totals.retried += c.retried;
    totals.released += c.released;
    totals.lost += c.lost;
    if (c.lost > 0) {
      log.write(
          "warn", "lost_lease",
          fmt::format("{} result(s) not written: their lease had passed to another worker", c.lost),
          {util::num("lost", static_cast<long long>(c.lost))});
    }
    results.clear();
    last_flush = Clock::now();
    // The write-back released the finished calls' leases: models held back by slots may claim.
    schedule.on_completion(last_flush);
    next_claim = std::min(next_claim, std::max(last_flush, schedule.next_due()));
  }

  void heartbeat(Clock::time_point now) {
    next_heartbeat = now + std::min(Millis(5000), opt.lease / 3);
    std::vector<std::int64_t> ids;
    ids.reserve(inflight.size() + results.size());
    for (const auto& [id, f] : inflight) {
      ids.push_back(id);
    }
    for (const auto& r : results) {
      ids.push_back(r.id);  // keep leases of answers not yet written
    }
    with_db("heartbeat", [&] {
      if (!ids.empty()) {
        store->renew(ids, duration<double>(opt.lease).count());
      }
      store->heartbeat(static_cast<int>(inflight.size()), totals.solved, totals.failed, false);
    });
  }

  void progress(Clock::time_point now) {
    next_progress = now + opt.progress_interval;
    totals.in_flight = static_cast<long long>(inflight.size());
    const double window = std::max(1.0, duration<double>(opt.progress_interval).count());
    if (!with_db("progress", [&] { last_figures = store->figures(window); })) {
      return;
    }
    if (live) {
      live->draw(totals, last_figures, window);
      return;
    }
    log.write("info", "progress", "progress: " + format_progress(totals, last_figures, window),
              {util::num("solved", totals.solved), util::num("failed", totals.failed),
               util::num("retried", totals.retried), util::num("in_flight", totals.in_flight),
               util::num("backlog", backlog(last_figures))});
  }

  // ---- the loop ----------------------------------------------------------------------------

  /// Each call in flight holds a socket: allow as many open files as the hard limit permits.
  static void raise_file_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  WorkSummary run() {
    raise_file_limit();
    store = std::make_unique<Store>(opt.database_url, worker_id);
    store->require_current_schema();
    http::ClientOptions copts;
    copts.max_response_bytes = opt.max_response_bytes;
    copts.headers = opt.backend_headers;
    client = std::make_unique<http::Client>(copts);
    SignalPipe signals;
    if (opt.live_table) {
      live = std::make_unique<LiveTable>(2);
    }
    log.write(
        "info", "start",
        fmt::format("worker {} started: backend {}, {} max in flight{}", worker_id, opt.backend_url,
                    opt.max_inflight_total,
                    opt.models.empty() ? std::string()
                                       : fmt::format(", models {}", fmt::join(opt.models, ","))),
        {util::str("worker", worker_id)});

    const bool has_runtime = opt.max_runtime.has_value();
    const auto end_of_runtime = started + opt.max_runtime.value_or(Millis(0));
    for (;;) {
      auto now = Clock::now();
      if (has_runtime && now >= end_of_runtime) {
        begin_stop("max-runtime", opt.drain_timeout);
      }
      try_reconnect(now);
      if (db_gave_up) {
        break;
      }
      // Write back before claiming: the write-back releases the finished calls' leases, so the
      // claim right after can hand their max_inflight slots out again at once.
      if (db_ok && (!results.empty() || !rate_limited.empty()) &&
          (now - last_flush >= opt.flush_interval || results.size() >= 512 || inflight.empty())) {
        flush();
        now = Clock::now();
      }
      if (!stopping && db_ok && now >= next_claim && free_slots() > 0) {
        claim(now);
      }
      now = Clock::now();
      if (now >= next_heartbeat) {
        heartbeat(now);
      }
      if (now >= next_progress) {
        progress(now);
      }
      if (stopping) {
        if (inflight.empty() && results.empty()) {
          break;
        }
        if (stop_deadline && now >= *stop_deadline && !inflight.empty()) {
          log.write("warn", "drain_timeout",
                    fmt::format("drain time is up; releasing {} task(s) still in flight",
                                inflight.size()),
                    {util::num("released", static_cast<long long>(inflight.size()))});
          release_all_inflight();
          continue;
        }
      }

      // Sleep until the next thing to do, a response, or a signal.
      auto wake = now + Millis(1000);
      if (!stopping && db_ok && free_slots() > 0) {
        wake = std::min(wake, next_claim);
      }
      if (!results.empty() && db_ok) {
        wake = std::min(wake, last_flush + opt.flush_interval);
      }
      if (!db_ok) {
        wake = std::min(wake, next_reconnect);
      }
      wake = std::min({wake, next_heartbeat, next_progress});
      if (stop_deadline) {
        wake = std::min(wake, *stop_deadline);
      }
      if (has_runtime && !stopping) {
        wake = std::min(wake, end_of_runtime);
      }
      const auto timeout = std::max(Millis(0), duration_cast<Millis>(wake - now));
      for (const auto& resp : client->wait(timeout, signals.fd())) {
        on_response(resp);
      }
      int signo = 0;
      const int count = signals.take(signo);
      if (count > 0) {
        if (stopping && stop_reason == "signal") {
          forced_signal = signo;
        } else if (count > 1) {
          forced_signal = signo;
          stop_reason = "signal";
          stopping = true;
        } else {
          begin_stop("signal", opt.term_grace);
        }
        if (forced_signal != 0) {
          log.write(
              "warn", "forced_stop",
              fmt::format("second signal: releasing {} task(s) and exiting now", inflight.size()),
              {util::num("released", static_cast<long long>(inflight.size()))});
          release_all_inflight();
          break;
        }
      }
    }
    return finish();
  }

  WorkSummary finish() {
    // Write what is left; keep trying while the database comes back, up to the retry timeout.
    const auto give_up_at = Clock::now() + (db_gave_up ? Millis(0) : opt.db_retry_timeout);
    if (db_gave_up) {
      release_all_inflight();
    }
    while ((!results.empty() || !rate_limited.empty()) && Clock::now() < give_up_at) {
      if (!db_ok) {
        try_reconnect(Clock::now());
        if (!db_ok) {
          ::usleep(100'000);
          continue;
        }
      }
      flush();
    }
    if (claims_ok == 1) {  // its only claim skipped the sweep
      with_db("sweep", [&] { store->sweep_if_due(); });
    }
    with_db("final heartbeat", [&] { store->heartbeat(0, totals.solved, totals.failed, true); });

    WorkSummary s;
    totals.in_flight = 0;
    s.totals = totals;
    s.seconds = duration<double>(Clock::now() - started).count();
    s.stop_reason = db_gave_up ? "database" : stop_reason;
    s.unwritten = static_cast<long long>(results.size());
    const auto answers = std::count_if(results.begin(), results.end(),
                                       [](const TaskResult& r) { return r.outcome == "ok"; });
    if (forced_signal != 0) {
      s.exit_code = 128 + forced_signal;
    } else if (s.unwritten > 0 || db_gave_up) {
      s.exit_code = kExitRuntime;
    }
    if (live) {
      live->finish();
    }
    log.write(s.exit_code == 0 ? "info" : "error", "summary",
              fmt::format("done in {:.1f}s ({}): claimed={} solved={} failed={} retried={} "
                          "released={} lost_leases={} unwritten={}",
                          s.seconds, s.stop_reason.empty() ? "stopped" : s.stop_reason,
                          totals.claimed, totals.solved, totals.failed, totals.retried,
                          totals.released, totals.lost, s.unwritten),
              {util::str("reason", s.stop_reason), util::num("seconds", s.seconds),
               util::num("claimed", totals.claimed), util::num("solved", totals.solved),
               util::num("failed", totals.failed), util::num("retried", totals.retried),
               util::num("released", totals.released), util::num("lost_leases", totals.lost),
               util::num("unwritten", s.unwritten)});
    if (s.unwritten > 0) {
      log.write("error", "unwritten",
                fmt::format("the database was unreachable: {} answer(s) could not be written "
                            "({} results in all); those tasks will be solved again once their "
                            "leases expire",
                            answers, s.unwritten),
                {util::num("unwritten", s.unwritten),
                 util::num("unwritten_answers", static_cast<long long>(answers))});
    }
    return s;
  }
};

Worker::Worker(WorkOptions options, util::Logger logger)
    : impl_(std::make_unique<Impl>(std::move(options), logger)) {}
Worker::~Worker() = default;
WorkSummary Worker::run() {
  return impl_->run();
}

}  // namespace llmlb::work
