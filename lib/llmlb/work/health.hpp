// Issue 14: failures that belong to the backend or the model, not the task. Before results are
// written, the dispatcher's notes about the backend (unreachable, reachable again) and about
// each model (answers, model-level errors) go to the database, where they are shared by every
// worker: a backoff of the whole backend, and model suspensions that claim() obeys.
#pragma once

#include <chrono>

#include "llmlb/work/db_link.hpp"
#include "llmlb/work/dispatcher.hpp"
#include "llmlb/work/worker_log.hpp"

namespace llmlb::work {

/// Writes `calls`' backend and model-health notes through `link` and logs what changed (a
/// warning when the backend is unreachable or a model is suspended, an info line when either
/// ends). A suspended model's results that would fail their tasks are released instead. Returns
/// false when the link is (or went) down; the notes not written stay in `calls`.
bool write_health(DbLink& link, Dispatcher& calls, const util::Logger& log);

/// Issue 16. Reports `calls`' capacity notes that are due (Dispatcher::overload_due at `now`:
/// 2 timeouts or 503/529s at once, other calls every 250 ms per model) through `link`, and logs a
/// warning when a model's calls in flight were lowered. Returns false when the link is (or
/// went) down; the notes not written stay in `calls`.
bool write_overload(DbLink& link, Dispatcher& calls, const util::Logger& log,
                    std::chrono::steady_clock::time_point now);

}  // namespace llmlb::work
