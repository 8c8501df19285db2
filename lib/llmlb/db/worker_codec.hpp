// The worker's contract with the SQL functions, spelled once: each enum's text in SQL, the
// text[] literal of a model list, and the JSON that llmlb.complete() reads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmlb/work/lease.hpp"
#include "llmlb/work/options.hpp"
#include "llmlb/work/result.hpp"

namespace llmlb::db {

/// The text llmlb.complete() expects for each result kind: ok, transient, permanent, release.
std::string_view to_sql(work::ResultKind kind) noexcept;

/// The text llmlb.calls.endpoint holds: single, batch.
std::string_view to_sql(work::Endpoint endpoint) noexcept;

/// The note llmlb.claim() returns for a model row: rate, inflight, cooldown, idle, full, more,
/// suspended.
std::string_view to_sql(work::ModelNote note) noexcept;

/// Parses a claim's note; nullopt for text this binary does not know (a newer schema).
std::optional<work::ModelNote> note_from_sql(std::string_view text) noexcept;

/// A PostgreSQL text[] literal for `items`, with every element quoted and escaped; nullopt (SQL
/// NULL, meaning "all") when empty.
std::optional<std::string> text_array(const std::vector<std::string>& items);

/// Encodes results as the JSON array llmlb.complete() reads: one object per result with id,
/// token, model, outcome, answer (ok only), error, error_class, http_status (when set),
/// endpoint, claimed_at (when known), send_offset_ms, latency_ms, retry_seconds, sent, and
/// (issue 17) prompt_bytes, answer_bytes (ok only), prompt_tokens and completion_tokens (when the
/// backend reported them).
std::string encode_results(const std::vector<work::TaskResult>& results);

}  // namespace llmlb::db
