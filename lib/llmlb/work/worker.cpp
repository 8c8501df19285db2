#include "llmlb/work/worker.hpp"

#include <algorithm>
#include <random>

#include "llmlb/http/client.hpp"
#include "llmlb/util/signals.hpp"
#include "llmlb/work/claim_schedule.hpp"
#include "llmlb/work/db_link.hpp"
#include "llmlb/work/deadline.hpp"
#include "llmlb/work/dispatcher.hpp"
#include "llmlb/work/worker_log.hpp"
#include "llmlb/work/write_back.hpp"

namespace llmlb::work {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::duration_cast;

struct Worker::Impl {
  static constexpr Millis kMinClaimGap{2};
  /// The first heartbeat waits this long, so that the first claim's requests go out first.
  static constexpr Millis kFirstHeartbeat{200};

  WorkOptions opt;
  WorkerLog log;
  StoreFactory open_store;
  std::string id = make_worker_id();
  Clock::time_point started = Clock::now();
  std::mt19937_64 rng{std::random_device{}()};
  std::unique_ptr<Store> store;
  std::unique_ptr<DbLink> link;
  std::unique_ptr<http::Client> client;
  std::unique_ptr<Dispatcher> calls;
  ClaimSchedule schedule{opt.poll_interval};
  StopControl stop{started, opt.max_runtime, opt.drain_timeout, opt.term_grace};
  ClaimDeadline call_deadline{0, Millis(10000)};  // learned latencies only hold models back
  Totals totals;
  long long claims_ok = 0;  // successful claims; every one but the first swept
  Clock::time_point next_claim = started, last_flush = started;
  Clock::time_point next_heartbeat = started + kFirstHeartbeat;
  Clock::time_point next_progress = started + opt.progress_interval;

  Impl(WorkOptions o, util::Logger l, StoreFactory f)
      : opt(std::move(o)), log(l, opt.live_table), open_store(std::move(f)) {}

  int free_slots() const { return opt.max_inflight_total - static_cast<int>(calls->in_flight()); }
  std::size_t kept() const { return calls->results().size(); }
  bool idle() const { return calls->in_flight() == 0 && calls->results().empty(); }
  void stopping_now(bool began) {
    if (began) {
      log.stopping(stop.reason(), calls->in_flight());
    }
  }

  void claim(Clock::time_point now) {
    int want = std::min(free_slots(), 1000);
    if (opt.max_tasks) {
      want = static_cast<int>(std::min<std::int64_t>(want, *opt.max_tasks - totals.claimed));
    }
    if (want <= 0) {
      return;
    }
    // Mostly only the models due now; the first claim skips the sweep (sooner first request).
    auto asked = schedule.plan(now);
    if (const auto end = stop.call_deadline()) {  // claim only what can finish before the drain
      if (call_deadline.refresh_due(now)) {
        link->run("latency estimate", kept(),
                  [&](Store& s) { call_deadline.refresh(s.latency_p95(900), now); });
      }
      asked = call_deadline.restrict(asked, opt.models, schedule.known_models(), now, *end);
      if (asked && asked->empty()) {
        next_claim = now + opt.poll_interval;
        return;
      }
    }
    ClaimResult got;
    const ClaimRequest request{want, asked ? *asked : opt.models,
                               duration<double>(opt.lease).count(), claims_ok > 0, opt.endpoint};
    if (!link->run("claim", kept(), [&](Store& s) { got = s.claim(request); })) {
      return;
    }
    ++claims_ok;
    totals.claimed += static_cast<long long>(got.tasks.size());
    const bool sent_any = !got.tasks.empty();
    const auto claimed = Clock::now();
    calls->dispatch(std::move(got.tasks), claimed, Clock::now());
    if (sent_any) {  // on the wire now, as close to the granted moment as possible
      for (const auto& resp : client->wait(Millis(0))) {
        calls->on_response(resp);
      }
    }
    schedule.record(got.models, asked, now);
    next_claim = std::max(now + kMinClaimGap, schedule.next_due());
    if (opt.until_empty && !asked && schedule.all_idle() && !sent_any && idle()) {
      bool pending = true;
      if (link->run("until-empty check", 0,
                    [&](Store& s) { pending = s.has_pending_work(opt.models); }) &&
          !pending) {
        stopping_now(stop.request(StopReason::until_empty, now));
      }
    }
    if (opt.max_tasks && totals.claimed >= *opt.max_tasks) {
      stopping_now(stop.request(StopReason::max_tasks, now));
    }
  }

  void flush() {
    const auto written = write_back(*link, *calls, log, opt.max_attempts);
    if (!written) {
      return;
    }
    totals.add(*written);
    last_flush = Clock::now();
    // The write-back released the finished calls' leases: models held back by slots may claim.
    schedule.on_completion(last_flush);
    next_claim = std::min(next_claim, std::max(last_flush, schedule.next_due()));
  }

  void heartbeat(Clock::time_point now) {
    next_heartbeat = now + std::min(Millis(5000), opt.lease / 3);
    keep_alive(*link, *calls, totals, duration<double>(opt.lease).count());
  }

  void progress(Clock::time_point now) {
    next_progress = now + opt.progress_interval;
    totals.in_flight = static_cast<long long>(calls->in_flight());
    const double window = std::max(1.0, duration<double>(opt.progress_interval).count());
    Figures figures;
    if (link->run("progress", kept(), [&](Store& s) { figures = s.figures(window); })) {
      log.progress(totals, figures, window);
    }
  }

  /// Sleeps until the next thing to do, a response, or a signal; handles what arrived.
  void wait(Clock::time_point now, util::SignalPipe& signals) {
    auto wake = std::min({now + Millis(1000), next_heartbeat, next_progress});
    if (!stop.stopping() && link->up() && free_slots() > 0) {
      wake = std::min(wake, next_claim);
    }
    if (!calls->results().empty() && link->up()) {
      wake = std::min(wake, last_flush + opt.flush_interval);
    }
    if (!link->up()) {
      wake = std::min(wake, link->next_attempt());
    }
    if (const auto deadline = stop.next_deadline()) {
      wake = std::min(wake, *deadline);
    }
    const auto timeout = std::max(Millis(0), duration_cast<Millis>(wake - now));
    for (const auto& resp : client->wait(timeout, signals.fd())) {
      calls->on_response(resp);
    }
    int signo = 0;
    if (const int count = signals.take(signo); count > 0) {
      stopping_now(stop.on_signals(count, signo, Clock::now()));
    }
  }

  /// Gives up every call in flight (released, counted as abandoned); logs why when `forced` is
  /// set (a second signal, or the end of the drain).
  void abandon_in_flight(std::optional<bool> forced = std::nullopt) {
    if (forced) {
      log.abandoning(calls->in_flight(), *forced);
    }
    (void)client->cancel_all();
    totals.abandoned += static_cast<long long>(calls->abandon_all());
  }

  WorkSummary run() {
    raise_file_limit();
    store = open_store(id);
    store->require_current_schema();
    link = std::make_unique<DbLink>(*store, opt.db_retry_timeout, log.logger());
    client = std::make_unique<http::Client>(http::ClientOptions{
        opt.max_response_bytes, std::chrono::milliseconds(10000), opt.backend_headers, 0});
    calls = std::make_unique<Dispatcher>(
        opt, [this](http::Request r) { client->submit(std::move(r)); },
        [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
    util::SignalPipe signals;
    log.started(id, opt);
    for (;;) {
      auto now = Clock::now();
      stopping_now(stop.tick(now));
      if (link->try_reconnect(now, kept())) {
        next_heartbeat = now;  // renew leases at once
      }
      if (link->gave_up()) {
        break;
      }
      // Write back before claiming: the claim right after can hand the freed slots out again.
      if (link->up() && (!calls->results().empty() || !calls->rate_limits().empty()) &&
          (now - last_flush >= opt.flush_interval || kept() >= 512 || calls->in_flight() == 0)) {
        flush();
        now = Clock::now();
      }
      if (!stop.stopping() && link->up() && now >= next_claim && free_slots() > 0) {
        claim(now);
      }
      now = Clock::now();
      if (now >= next_heartbeat) {
        heartbeat(now);
      }
      if (now >= next_progress) {
        progress(now);
      }
      if (stop.stopping() && (idle() || stop.forced())) {
        if (stop.forced()) {
          abandon_in_flight(true);
        }
        break;
      }
      if (stop.drain_over(now) && calls->in_flight() > 0) {
        abandon_in_flight(false);
        continue;
      }
      wait(now, signals);
    }
    return finish();
  }

  WorkSummary finish() {
    // Write what is left; keep trying while the database comes back, up to the retry timeout.
    if (link->gave_up()) {
      abandon_in_flight();
    }
    const auto give_up_at = Clock::now() + (link->gave_up() ? Millis(0) : opt.db_retry_timeout);
    write_remaining(*link, *calls, log, opt.max_attempts, give_up_at, totals);
    sign_off(*link, totals, claims_ok != 1);  // a run's first claim skips the sweep
    totals.in_flight = 0;
    WorkSummary sum{totals, static_cast<long long>(kept()),
                    link->gave_up() ? StopReason::database : stop.reason(),
                    duration<double>(Clock::now() - started).count(), 0};
    sum.exit_code = stop.forced()                            ? 128 + stop.forced_signal()
                    : (sum.unwritten > 0 || link->gave_up()) ? kExitRuntime
                                                             : 0;
    log.summary(sum, calls->results());
    return sum;
  }
};

Worker::Worker(WorkOptions options, util::Logger logger, StoreFactory open_store)
    : impl_(std::make_unique<Impl>(std::move(options), logger, std::move(open_store))) {}
Worker::~Worker() = default;
WorkSummary Worker::run() {
  return impl_->run();
}

}  // namespace llmlb::work
