// Trimming what only grows: the call log (llmlb.calls) and ended workers (llmlb.workers), for
// `llmlb prune`.
#pragma once

#include <chrono>
#include <string>

#include "llmlb/db/session.hpp"

namespace llmlb::db {

/// What prune_calls() did.
struct PruneResult {
  long long deleted = 0;  ///< calls deleted (with dry_run: calls that would be deleted)
  long long workers = 0;  ///< worker rows deleted (with dry_run: that would be deleted)
  std::string cutoff;     ///< database time; calls sent before it were pruned, ISO 8601 UTC
};

/// Deletes llmlb.calls rows whose sent_at is before (database clock now - older_than), at most
/// batch_size rows per transaction so that no long lock or huge transaction builds up, until
/// none are left; then the llmlb.workers rows of workers that ended (stopped_at) or went silent
/// (heartbeat_at) before the same cutoff. Never touches public.tasks or any other table. With
/// dry_run it only counts.
/// Throws DatabaseError "prune failed after deleting <n> call(s): ..." (batches already
/// committed stay deleted).
PruneResult prune_calls(Session& session, std::chrono::milliseconds older_than, int batch_size,
                        bool dry_run);

}  // namespace llmlb::db
