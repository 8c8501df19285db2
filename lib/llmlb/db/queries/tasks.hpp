// The task table (public.tasks): inserting new tasks for `llmlb enqueue`.
#pragma once

#include <cstddef>
#include <vector>

#include "llmlb/db/session.hpp"
#include "llmlb/enqueue/jsonl.hpp"

namespace llmlb::db {

/// Inserts `tasks` into public.tasks in one transaction (all or nothing), 1000 per statement.
/// Returns how many were inserted. Throws DatabaseError "cannot insert tasks, none were
/// inserted: ...".
std::size_t insert_tasks(Session& session, const std::vector<enqueue::TaskInput>& tasks);

}  // namespace llmlb::db
