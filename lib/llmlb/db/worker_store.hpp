// work::Store on PostgreSQL: the worker's queries, prepared once per connection.
#pragma once

#include <memory>
#include <string>

#include "llmlb/work/store.hpp"

namespace llmlb::db {

/// Opens a worker's session on `conninfo` and prepares its statements. `worker_id` names the
/// lease owner in every claim and write. Throws UsageError when `conninfo` is malformed and
/// DatabaseError when the server cannot be reached (db::connect). The caller owns the store.
std::unique_ptr<work::Store> open_worker_store(const std::string& conninfo,
                                               const std::string& worker_id);

}  // namespace llmlb::db
