// One HTTP request in flight inside http::Client: its state, the libcurl callbacks that fill
// it, its easy-handle setup, and how its end becomes a Response. Internal to lib/llmlb/http/.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "llmlb/http/client.hpp"
#include "llmlb/http/curl_handles.hpp"

namespace llmlb::http::detail {

using Clock = std::chrono::steady_clock;

// One request in flight. Heap-allocated so that the pointers handed to libcurl (PRIVATE,
// WRITEDATA, HEADERDATA, READDATA, SEEKDATA, ERRORBUFFER) stay valid until it completes.
struct Transfer {
  Request request;
  EasyHandle easy;
  std::size_t sent = 0;  // request body bytes handed to libcurl so far
  std::string body;
  std::optional<double> retry_after_s;
  std::size_t max_bytes = 0;
  bool too_large = false;
  bool reserved = false;
  std::exception_ptr error;  // thrown inside a callback; rethrown by wait()
  Clock::time_point started;
  char errbuf[CURL_ERROR_SIZE] = {};
};

/// Sets every option of `t`'s easy handle: the URL, the body through on_read/on_seek (never
/// re-sent, see on_seek), `headers`, the callbacks, timeouts and buffer sizes. `t` must stay
/// at its address until the transfer completes (libcurl holds pointers to it). Returns the
/// first failing option's code, or CURLE_OK.
CURLcode configure(Transfer& t, const ClientOptions& options, const curl_slist* headers);

/// The Response for a transfer that ended with `code`: status, body and Retry-After when
/// CURLE_OK, else the transport-error fields, whose text is one line without `secrets`.
Response make_response(Transfer& t, CURLcode code, const ClientOptions& options,
                       const std::vector<std::string>& secrets);

/// Case-insensitive (ASCII) prefix test.
bool starts_with_icase(std::string_view text, std::string_view prefix) noexcept;

/// `text` without leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view text) noexcept;

}  // namespace llmlb::http::detail
