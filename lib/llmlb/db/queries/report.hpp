// Reading a report window from PostgreSQL. All times come from the database clock.
#pragma once

#include <chrono>
#include <string>

#include "llmlb/db/session.hpp"
#include "llmlb/report/data.hpp"

namespace llmlb::db {

/// Reads the last `window` (ending now, database clock) into `buckets` equal buckets, in one
/// read-only REPEATABLE READ transaction: the configured models (read_model_rows), requests per
/// model per bucket (calls by sent_at, plus live leases by leased_at), outcome counts, peak minute,
/// latency percentiles of ok calls, errors by class, and the task history (created, solved, failed
/// per bucket and the backlog at the start). `since_text` is copied into the result for display.
/// Throws DatabaseError "cannot read the report data: ...".
report::ReportData read_report(Session& session, std::chrono::milliseconds window,
                               const std::string& since_text, int buckets = 60);

}  // namespace llmlb::db
