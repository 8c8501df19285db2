// When `llmlb work` stops claiming, how long it waits for calls in flight, and how signals
// change that. Pure: time is passed in, so it is tested with a fake clock.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace llmlb::work {

/// Why a worker stopped. `database` is decided by the worker (outage past the retry timeout).
enum class StopReason { none, until_empty, max_runtime, max_tasks, signal, database };

/// The reason as the summary line and the logs spell it: "until-empty", "max-runtime",
/// "max-tasks", "signal", "database"; "" for none.
std::string_view to_string(StopReason reason) noexcept;

/// The stop state machine of one worker:
/// - running: claiming;
/// - stopping: no new claims; calls in flight may finish until the drain deadline (none for
///   until-empty and max-tasks: they wait for every call), after which the worker abandons
///   what is still in flight;
/// - forced: a second signal; the worker abandons everything and exits at once.
/// The first signal stops with --term-grace; a signal during another stop shortens the drain
/// to at most --term-grace; a second signal (or two arriving together) forces.
class StopControl {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;

  /// `max_runtime` counts from `started`; `drain` follows it; `term_grace` follows a signal.
  StopControl(Clock::time_point started, std::optional<Millis> max_runtime, Millis drain,
              Millis term_grace);

  /// Starts the max-runtime stop once its time has come. Returns true when the stop began now.
  bool tick(Clock::time_point now);

  /// Stops for `reason` (until-empty, max-tasks) with no drain deadline. Returns true when the
  /// stop began now; false when the worker was already stopping (the first reason stays).
  bool request(StopReason reason, Clock::time_point now);

  /// `count` signals arrived (>= 1), the last being `signo`. Returns true when the worker
  /// began stopping now (then or later forced() may also be true).
  bool on_signals(int count, int signo, Clock::time_point now);

  bool stopping() const noexcept { return reason_ != StopReason::none; }
  /// A second signal arrived: abandon everything and exit with 128 + forced_signal().
  bool forced() const noexcept { return forced_signal_ != 0; }
  int forced_signal() const noexcept { return forced_signal_; }
  StopReason reason() const noexcept { return reason_; }

  /// Whether the drain deadline has passed: calls still in flight are to be abandoned.
  bool drain_over(Clock::time_point now) const noexcept { return deadline_ && now >= *deadline_; }

  /// While running with a max-runtime: the moment a call must have ended to be written, the end
  /// of the runtime plus the drain (calls still running then are abandoned). Else nullopt.
  std::optional<Clock::time_point> call_deadline() const noexcept {
    if (stopping() || !runtime_end_) {
      return std::nullopt;
    }
    return *runtime_end_ + drain_;
  }

  /// The next moment tick() or drain_over() can change: the end of the runtime while running,
  /// the drain deadline while stopping; nullopt when there is none.
  std::optional<Clock::time_point> next_deadline() const noexcept;

 private:
  bool begin(StopReason reason, std::optional<Clock::time_point> deadline);

  std::optional<Clock::time_point> runtime_end_;
  Millis drain_;
  Millis term_grace_;
  StopReason reason_ = StopReason::none;
  std::optional<Clock::time_point> deadline_;
  bool signalled_ = false;
  int forced_signal_ = 0;
};

}  // namespace llmlb::work
