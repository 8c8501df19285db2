// The task table (public.tasks): inserting new tasks for `llmlb enqueue`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llmlb/db/session.hpp"
#include "llmlb/enqueue/jsonl.hpp"

namespace llmlb::db {

/// Inserts `tasks` into public.tasks in one transaction (all or nothing), 1000 per statement.
/// Returns how many were inserted. Throws DatabaseError "cannot insert tasks, none were
/// inserted: ...".
std::size_t insert_tasks(Session& session, const std::vector<enqueue::TaskInput>& tasks);

/// Which tasks `llmlb requeue` and `llmlb cancel` act on; unset filters match every task.
struct TaskFilter {
  std::optional<std::string> model;     ///< tasks.model (pinned) or answered/leased by it
  std::optional<std::string> error;     ///< a substring of tasks.last_error
  std::optional<double> since_seconds;  ///< see requeue_tasks() and cancel_tasks()
  std::vector<std::int64_t> ids;        ///< these ids only (empty: any)
};

/// `llmlb requeue`: puts `failed` tasks matching `filter` back to `unsolved` with attempts 0
/// (last_error is kept until the next call overwrites it), `batch` tasks per transaction.
/// since_seconds: failed within that time (a call of the task was sent in it, or the task was
/// created in it). Returns how many tasks it changed, or with dry_run how many match (nothing
/// changed). Throws DatabaseError "cannot requeue tasks: ..." (batches already committed stay).
long long requeue_tasks(Session& session, const TaskFilter& filter, bool dry_run, int batch);

/// `llmlb cancel`: sets the terminal status `cancelled` on `unsolved` tasks (and `failed` ones
/// too with include_failed) matching `filter`, `batch` per transaction. A task in flight loses
/// its lease, so its worker's answer is not written (logged as a lost lease). since_seconds:
/// created within that time. Returns how many tasks it changed (with dry_run: how many match).
long long cancel_tasks(Session& session, const TaskFilter& filter, bool include_failed,
                       bool dry_run, int batch);

}  // namespace llmlb::db
