// The JSON protocol spoken with the Models Backend: request bodies for one prompt ("single") or
// many ("batch"), and the decoding of their responses. Field names are configurable.
//
// Single:  request  {"model": "...", "prompt": "..."}
//          response {"answer": "..."}                       (or {"error": "..."} on failure)
// Batch:   request  {"requests": [{"model": "...", "prompt": "..."}, ...]}
//          response {"results": [R, ...]}, one R per request, in request order, where R is
//                   "answer text", {"answer": "..."} or {"error": "message"}
//
// Usage (issue 17): a response (and each batch result object) may report the tokens the call
// took, at configurable dotted paths, by default {"usage": {"prompt_tokens": P,
// "completion_tokens": C}}.
//
// Every string handed in or out is UTF-8; answers are also free of NUL characters, so they fit
// in a PostgreSQL text column.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmlb/util/result.hpp"

namespace llmlb::backend {

/// URL paths and JSON field names of the backend protocol, and how responses are judged.
struct Protocol {
  std::string single_path = "/single";
  std::string batch_path = "/batch";
  std::string model_field = "model";
  std::string prompt_field = "prompt";
  std::string answer_field = "answer";
  std::string requests_field = "requests";
  std::string results_field = "results";
  std::string error_field = "error";
  /// Issue 17: dotted paths of the reported prompt and completion tokens in a response object
  /// (a single response, or a batch result object); an empty path is never looked up.
  std::string usage_prompt_path = "usage.prompt_tokens";
  std::string usage_completion_path = "usage.completion_tokens";
  /// Whether an empty or blank answer solves a task; if not, it is a transient "empty answer".
  bool accept_empty_answers = false;
  /// The longest Retry-After honoured; a longer one (e.g. 999999999 s) is cut to this.
  std::chrono::milliseconds max_retry_after{600'000};
  /// SECRET texts (the backend token) that must never appear in an error: the classifier
  /// replaces them, and any "Bearer <token>" or "Authorization: <value>", by "***".
  std::vector<std::string> secrets;
};

/// Tokens a backend reported for one call (issue 17); unset when not reported. Each is a
/// non-negative JSON number at the configured path (a fraction is rounded), at most 1e9;
/// anything else there counts as not reported.
struct Usage {
  std::optional<long long> prompt_tokens;
  std::optional<long long> completion_tokens;
};

/// The usage reported in a response body (any status), or none when the body is not a JSON
/// object or holds none. Never throws but std::bad_alloc.
Usage decode_usage(const Protocol& protocol, std::string_view body);

/// True if `text` is empty or holds only white space (ASCII, or Unicode White_Space such as
/// U+00A0 and U+3000, or U+200B/U+FEFF). Invalid UTF-8 is not blank.
bool is_blank(std::string_view text) noexcept;

/// `text` with every occurrence of each of `secrets` (empty ones are ignored), every
/// "Bearer <token>" and every "Authorization" header or field value replaced by "***"; a
/// secret's start of 4 bytes or more, cut off at the end of `text` (before a trailing "..."), is
/// replaced too. Case-insensitive for "Bearer" and "Authorization".
std::string redact_secrets(std::string text, const std::vector<std::string>& secrets);

/// True if `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no UTF-16 surrogates, no
/// code point above U+10FFFF). NUL bytes are well-formed.
bool is_valid_utf8(std::string_view text) noexcept;

/// The single-call request body {"<model>": model, "<prompt>": prompt}. Strings are escaped
/// exactly (quotes, backslashes, control characters; other characters are copied as UTF-8).
/// Fails, naming the culprit but not quoting it, if model, prompt or a field name is not valid
/// UTF-8 or is longer than 4 GiB.
util::Result<std::string> encode_single(const Protocol& protocol, std::string_view model,
                                        std::string_view prompt);

/// One entry of a batch request; views the caller's strings.
struct BatchItem {
  std::string_view model;
  std::string_view prompt;
};

/// The batch request body {"<requests>": [{"<model>": .., "<prompt>": ..}, ...]}, in `items`
/// order (an empty span gives an empty array). Fails like encode_single, naming the index of
/// the bad item.
util::Result<std::string> encode_batch(const Protocol& protocol, std::span<const BatchItem> items);

/// The answer of a single-call response body. Failures: "response is not valid JSON: ..."
/// (including invalid UTF-8), "response is not a JSON object", "backend reported an error: <msg>"
/// (no answer but an error string), "response has no string field '<answer>'", "answer contains
/// a NUL character", "answer is not valid UTF-8". Never throws on any input bytes but
/// std::bad_alloc. When `usage` is given, it receives the usage the body reports (also on a
/// failure, as far as the body is a JSON object).
util::Result<std::string> decode_single(const Protocol& protocol, std::string_view body,
                                        Usage* usage = nullptr);

/// The outcome of one batch entry.
struct ItemResult {
  bool ok = false;
  std::string text;  ///< the answer when ok, else a one-line error message
  Usage usage;       ///< issue 17: reported by the entry, when it is an object
};

/// The per-item results of a batch response, in request order. Fails (the whole call) if the
/// body is not JSON, not an object, has no '<results>' array, or that array's length differs
/// from `expected_items`. An entry that is an answer (a string, or an object with a string
/// '<answer>') with a NUL character or invalid UTF-8, an entry carrying '<error>' (its message,
/// made one line and cut to 200 characters), and an entry that is neither give !ok.
util::Result<std::vector<ItemResult>> decode_batch(const Protocol& protocol, std::string_view body,
                                                   std::size_t expected_items);

}  // namespace llmlb::backend
