// The values that travel between the claim, the calls in flight and the write-back: a task's
// lease, a claimed task, and what a claim said about each model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llmlb::work {

/// A task's lease: handed out by a claim, quoted by every later write of that task. A write
/// succeeds only while the task still carries this token.
struct Lease {
  std::int64_t task_id = 0;
  std::int64_t token = 0;  ///< lease token; guards every write of the task
  std::string model;       ///< the model the task was claimed for
  std::string claimed_at;  ///< database time of the claim, as PostgreSQL text (for the call log)
  int attempts = 0;        ///< calls made before this claim
};

/// One task claimed for this worker: its lease and the prompt to send.
struct ClaimedTask {
  Lease lease;
  std::string prompt;
};

/// What held a model back in a claim (llmlb.claim()'s `note` column).
enum class ModelNote {
  rate,       ///< out of tokens: its next token is due in wait_seconds
  inflight,   ///< at max_inflight: a slot frees when a call finishes
  cooldown,   ///< in a shared 429 cooldown for wait_seconds
  idle,       ///< nothing claimable (or others hold it locked)
  full,       ///< the caller wanted no more tasks
  more,       ///< stopped at its fair share of pinned work: claim again soon
  suspended,  ///< suspended after model-level errors: its probe is due in wait_seconds
};

/// One model's row of a claim.
struct ModelState {
  std::string model;
  ModelNote note = ModelNote::idle;
  double wait_seconds = 0;  ///< until the next token (rate) or the cooldown's end
};

/// What one claim returned.
struct ClaimResult {
  std::vector<ClaimedTask> tasks;
  std::vector<ModelState> models;  ///< one per model the claim considered
};

}  // namespace llmlb::work
