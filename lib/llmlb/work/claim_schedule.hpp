// Which models a worker's next claim covers, and when it is due.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "llmlb/work/lease.hpp"

namespace llmlb::work {

/// Decides when the worker claims next and for which models. A claim costs the database work
/// for every model it covers (the model's advisory lock, its bucket, its live leases), so most
/// claims cover only the models that can take a task now: those whose next token is due
/// ('rate', 'cooldown'), that stopped at their fair share ('more'), or that were held back by
/// in-flight slots ('inflight', 'full') once a call of this process has finished. A full claim,
/// of every model the worker serves, comes at least every poll interval: it finds models with
/// new work ('idle' ones), models enabled or added since, and limits raised since.
/// Not thread-safe; one per worker.
class ClaimSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  /// `poll_interval` (> 0) is the longest time between two full claims. The first claim is a
  /// full one, due at once.
  explicit ClaimSchedule(std::chrono::milliseconds poll_interval);

  /// What to claim at `now`: std::nullopt for a full claim (every model the worker serves),
  /// else the names of the due models, never empty. Only meaningful when next_due() <= now.
  std::optional<std::vector<std::string>> plan(Clock::time_point now) const;

  /// Records the model rows of a claim made at `now`. `full` says whether it covered every
  /// model: then models it did not report (disabled or removed) are forgotten. A model asked
  /// for by a partial claim but not reported (disabled meanwhile) is forgotten too; `asked` is
  /// what plan() returned for that claim.
  void record(const std::vector<ModelState>& models,
              const std::optional<std::vector<std::string>>& asked, Clock::time_point now);

  /// A call of this process finished (its lease is being released): models held back by
  /// in-flight slots, this process's or their own, become due at `now`.
  void on_completion(Clock::time_point now);

  /// When the next claim is due: the earliest due model, or the next full claim.
  Clock::time_point next_due() const;

  /// The models the last claims reported, by name.
  std::vector<std::string> known_models() const;

  /// Whether the last recorded claim was a full one and reported every model 'idle'.
  bool all_idle() const { return all_idle_; }

 private:
  struct Entry {
    std::optional<Clock::time_point> due;  ///< nullopt: only the next full claim covers it
    bool waits_for_slot = false;           ///< 'inflight' or 'full': due at a completion
  };

  std::chrono::milliseconds poll_interval_;
  Clock::time_point next_full_;
  std::map<std::string, Entry> models_;
  bool all_idle_ = false;
};

}  // namespace llmlb::work
