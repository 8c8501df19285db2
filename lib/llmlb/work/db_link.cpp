#include "llmlb/work/db_link.hpp"

#include <fmt/format.h>
#include <algorithm>

namespace llmlb::work {

DbLink::DbLink(Store& store, Millis retry_timeout, const util::Logger& log)
    : store_(store), retry_timeout_(retry_timeout), log_(log) {}

void DbLink::lost(const char* what, const DatabaseUnavailable& e, std::size_t kept) {
  up_ = false;
  down_since_ = Clock::now();
  next_attempt_ = down_since_ + delay_;
  log_.write(
      "warn", "db_down",
      fmt::format("lost the database ({}); {} results kept, reconnecting", e.what(), kept),
      {util::str("during", what), util::num("pending_results", static_cast<long long>(kept))});
}

bool DbLink::try_reconnect(Clock::time_point now, std::size_t kept) {
  if (up_ || now < next_attempt_) {
    return false;
  }
  try {
    store_.reconnect();
  } catch (const Error&) {
    delay_ = std::min(Millis(5000), delay_ * 2);
    next_attempt_ = now + delay_;
    if (now - down_since_ > retry_timeout_) {
      gave_up_ = true;
    }
    return false;
  }
  up_ = true;
  delay_ = Millis(100);
  log_.write("info", "db_up",
             fmt::format("database reconnected after {:.1f}s; writing {} kept results",
                         std::chrono::duration<double>(now - down_since_).count(), kept),
             {util::num("pending_results", static_cast<long long>(kept))});
  return true;
}

}  // namespace llmlb::work
