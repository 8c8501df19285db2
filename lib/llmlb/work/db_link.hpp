// The worker's link to the database through outages: runs store operations, notices when the
// connection is lost, reconnects with backoff, and gives up after --db-retry-timeout.
#pragma once

#include <chrono>
#include <cstddef>

#include "llmlb/error.hpp"
#include "llmlb/util/log.hpp"
#include "llmlb/work/store.hpp"

namespace llmlb::work {

/// Up, down (reconnecting), or given up. Starts up. Not thread-safe.
class DbLink {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;

  /// `store` and `log` must outlive the link. `retry_timeout`: how long the database may stay
  /// unreachable before gave_up() turns true.
  DbLink(Store& store, Millis retry_timeout, const util::Logger& log);

  /// Runs `op(store)` while up. Returns true when it ran. Returns false without running it
  /// while down, and when it threw DatabaseUnavailable: then the link is down and logs it,
  /// saying that `kept` results wait to be written. Any other exception propagates.
  template <typename Op>
  bool run(const char* what, std::size_t kept, Op&& op) {
    if (!up_) {
      return false;
    }
    try {
      op(store_);
      return true;
    } catch (const DatabaseUnavailable& e) {
      lost(what, e, kept);
      return false;
    }
  }

  /// While down and once the next attempt is due, reconnects. Returns true when the link came
  /// up now (the caller should renew its leases at once). Past the retry timeout, gave_up().
  bool try_reconnect(Clock::time_point now, std::size_t kept = 0);

  bool up() const noexcept { return up_; }
  bool gave_up() const noexcept { return gave_up_; }
  /// When the next reconnection attempt is due (meaningful while down).
  Clock::time_point next_attempt() const noexcept { return next_attempt_; }

 private:
  void lost(const char* what, const DatabaseUnavailable& e, std::size_t kept);

  Store& store_;
  Millis retry_timeout_;
  const util::Logger& log_;
  bool up_ = true;
  bool gave_up_ = false;
  Clock::time_point down_since_{};
  Clock::time_point next_attempt_{};
  Millis delay_{100};
};

}  // namespace llmlb::work
