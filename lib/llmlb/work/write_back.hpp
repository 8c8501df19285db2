// The write-back: the dispatcher's 429 notes and results, written through the database link.
#pragma once

#include <chrono>
#include <optional>

#include "llmlb/work/db_link.hpp"
#include "llmlb/work/dispatcher.hpp"
#include "llmlb/work/progress.hpp"
#include "llmlb/work/worker_log.hpp"

namespace llmlb::work {

/// Writes `calls`' 429 notes (each model's shared cooldown), then its results (one statement),
/// and forgets what was written. Returns the write's counts, or nullopt when no result was
/// written: nothing to write, or the link is (or went) down, in which case what was not
/// written stays in `calls` for the next try. Logs the 429s and any lost leases.
std::optional<WriteCounts> write_back(DbLink& link, Dispatcher& calls, const WorkerLog& log,
                                      int max_attempts);

/// At the end of a run: writes what is left in `calls`, reconnecting while the database is
/// down, until everything is written or `give_up_at` has passed. Adds the counts written to
/// `totals`.
void write_remaining(DbLink& link, Dispatcher& calls, const WorkerLog& log, int max_attempts,
                     std::chrono::steady_clock::time_point give_up_at, Totals& totals);

/// Renews the leases of every task `calls` holds (in flight, or answered but not yet written)
/// by `lease_seconds`, and upserts this worker's row; `totals` gives its figures.
void keep_alive(DbLink& link, const Dispatcher& calls, const Totals& totals, double lease_seconds);

/// The last bookkeeping of a run: hands back expired leases and due retries unless `swept` (the
/// run's only claim skipped the sweep, so nobody may have), and marks the worker stopped.
void sign_off(DbLink& link, const Totals& totals, bool swept);

}  // namespace llmlb::work
