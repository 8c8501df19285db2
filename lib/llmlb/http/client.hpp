// An event-loop HTTP client on libcurl's multi interface: the caller submits POST requests, then
// calls wait() to drive every transfer and collect the ones that finished. One thread owns a
// Client; many requests (thousands) are in flight at once over kept-alive connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmlb::http {

/// Settings shared by every request of one Client.
struct ClientOptions {
  /// Largest response body kept. A longer body aborts that transfer, which then completes with
  /// transport_ok == false and too_large == true.
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  /// Limit on establishing a connection (TCP, and TLS for https).
  std::chrono::milliseconds connect_timeout{10000};
  /// Extra request header lines, e.g. "Authorization: Bearer ...". SECRET: the client never
  /// logs them and never puts them into an error text.
  std::vector<std::string> headers;
  /// Most connections open to one host at a time; 0 = unlimited. With a limit, requests beyond
  /// it wait inside libcurl for a free connection (their timeout runs while they wait).
  long max_connections = 0;
};

/// One POST to send. Content-Type is application/json.
struct Request {
  std::uint64_t tag = 0;  ///< the caller's id, echoed in the Response
  std::string url;        ///< full http:// or https:// URL
  std::string body;       ///< POST body; may be empty, may hold any bytes
  /// Whole-transfer timeout (connecting, sending, waiting, receiving); 0 = no limit; a
  /// negative value makes submit() throw.
  std::chrono::milliseconds timeout{180000};
};

/// How one Request ended.
struct Response {
  std::uint64_t tag = 0;  ///< Request::tag
  /// false: no complete HTTP response arrived (refused, reset, timed out, too large, cancelled).
  bool transport_ok = false;
  /// When !transport_ok: one line, e.g. "timed out after 180000 ms", "connection refused",
  /// "response larger than 16777216 bytes", "cancelled". Never contains a header value.
  std::string transport_error;
  bool timed_out = false;       ///< the whole-transfer or the connect timeout expired
  bool too_large = false;       ///< the body exceeded ClientOptions::max_response_bytes
  bool connect_failed = false;  ///< no connection could be made (refused, unreachable, DNS,
                                ///< connect timeout, TLS handshake): the request surely never
                                ///< reached a server
  bool cancelled = false;       ///< ended by Client::cancel_all
  /// The whole request was handed to a kept-alive connection that then died without a byte of
  /// response: the server may have read it. libcurl would silently send it again on a new
  /// connection; the client refuses (every request reaches the network at most once), and the
  /// transfer ends here with transport_error "connection lost after the request was sent; not
  /// re-sent".
  bool reset_after_send = false;
  long status = 0;   ///< HTTP status; 0 when !transport_ok
  std::string body;  ///< response body; empty when !transport_ok
  /// Retry-After of the response, in seconds from when the header arrived: delta-seconds or an
  /// HTTP-date, clamped to [0, 1e9]. Empty if absent or unparsable, or when !transport_ok.
  std::optional<double> retry_after_s;
  std::chrono::microseconds elapsed{0};  ///< submit() to completion, steady clock
};

/// Parses a Retry-After header value (surrounding blanks allowed): delta-seconds ("120") or an
/// HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", any form curl_getdate understands), which is
/// turned into seconds after `now`. Returns seconds clamped to [0, 1e9], or nullopt when the
/// value is neither. Never throws.
std::optional<double> parse_retry_after(std::string_view value, std::time_t now) noexcept;

/// The HTTP client. Not thread-safe: one thread calls every member. Move-only; a moved-from
/// Client may only be destroyed or assigned to (its in_flight() is 0).
class Client {
 public:
  /// Sets up the multi handle and the shared header list. Throws llmlb::RuntimeError if libcurl
  /// cannot be initialised or a header line contains a CR, LF or NUL.
  explicit Client(ClientOptions options);
  /// Aborts whatever is still in flight, silently.
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Queues `request` as a POST; its transfer starts at the next wait(). Every submitted request
  /// is handed back exactly once, by wait() or cancel_all(). Throws llmlb::RuntimeError if
  /// libcurl refuses the transfer (out of memory, or a URL/body too long); the request is then
  /// not in flight. A malformed URL is not an exception: its Response reports a transport error.
  void submit(Request request);

  /// Requests submitted and not yet handed back by wait() or cancel_all().
  std::size_t in_flight() const noexcept;

  /// Drives every transfer and returns the ones that finished, in no particular order. Blocks
  /// (curl_multi_poll) until at least one finished, `timeout` passed, or `wake_fd` (if >= 0)
  /// became readable; it never reads from `wake_fd`, so the caller must drain it, or later waits
  /// return at once. May return an empty vector. Throws llmlb::RuntimeError on libcurl errors,
  /// or rethrows an exception (e.g. std::bad_alloc) raised while receiving data: such an
  /// exception is caught inside the libcurl callback, its transfer ends with a transport error,
  /// and the responses that finished along with it are returned by the next call.
  std::vector<Response> wait(std::chrono::milliseconds timeout, int wake_fd = -1);

  /// Aborts every transfer still in flight and returns them as transport errors with
  /// cancelled == true and transport_error "cancelled", together with any response that had
  /// finished but was not yet returned. An exception waiting to be rethrown by wait() is
  /// dropped. Afterwards in_flight() == 0. Kept-alive idle connections stay open.
  std::vector<Response> cancel_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmlb::http
