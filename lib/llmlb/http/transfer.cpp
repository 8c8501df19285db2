#include "llmlb/http/transfer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>

#include "llmlb/util/text.hpp"

namespace llmlb::http {
namespace detail {
namespace {

// Receive buffer per transfer. libcurl allocates it once per easy handle; with 2,000 transfers
// in flight a large buffer would dominate memory, and LLM answers arrive slowly anyway.
constexpr long kReceiveBufferBytes = 4 * 1024;
// Upload buffer per transfer, used only for bodies libcurl cannot send in its first write.
// 16 KiB is libcurl's minimum (the default is 64 KiB).
constexpr long kUploadBufferBytes = 16 * 1024;
// Largest Retry-After accepted, in seconds (about 31 years).
constexpr double kMaxRetryAfter = 1e9;

// Every occurrence of each of `secrets` in `message` replaced by "<redacted>".
std::string redacted(std::string message, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at)) {
      message.replace(at, secret.size(), "<redacted>");
      at += std::strlen("<redacted>");
    }
  }
  return message;
}

// CURLOPT_WRITEFUNCTION: appends to the body up to the cap. Returning less than offered makes
// libcurl abort the transfer with CURLE_WRITE_ERROR. Nothing escapes into libcurl.
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  try {
    if (n > t->max_bytes - t->body.size()) {
      t->too_large = true;
      return 0;
    }
    if (!t->reserved) {
      t->reserved = true;
      curl_off_t length = -1;
      if (curl_easy_getinfo(t->easy.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) ==
              CURLE_OK &&
          length > 0 && static_cast<std::uint64_t>(length) <= t->max_bytes) {
        t->body.reserve(static_cast<std::size_t>(length));
      }
    }
    t->body.append(data, n);
    return n;
  } catch (...) {
    t->error = std::current_exception();
    return 0;
  }
}

// CURLOPT_READFUNCTION: hands libcurl the request body from memory. The body goes through a
// read callback rather than CURLOPT_POSTFIELDS so that on_seek can refuse to start it again.
std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::string& body = t->request.body;
  const std::size_t n = std::min(size * count, body.size() - t->sent);
  std::memcpy(buffer, body.data() + t->sent, n);
  t->sent += n;
  return n;
}

// CURLOPT_SEEKFUNCTION: libcurl rewinds the body only to send the request again, above all when
// a kept-alive connection dies after the request went out and before any response byte came
// back (libcurl 7.88's Curl_retry_request re-sends it on a new connection, silently). The
// server may well have read it, and that second request would be one no claim paid for. So once
// any byte was handed over, rewinding fails: the transfer ends with CURLE_SEND_FAIL_REWIND and
// is reported as reset_after_send. Before the first byte, a rewind to the start is harmless.
int on_seek(void* user, curl_off_t offset, int origin) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (t->sent == 0 && offset == 0 && origin == SEEK_SET) {
    return CURL_SEEKFUNC_OK;
  }
  return CURL_SEEKFUNC_FAIL;
}

// CURLOPT_HEADERFUNCTION: captures Retry-After of the final response. Called once per header
// line, status lines included; a new status line (after a 1xx) forgets earlier headers.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (starts_with_icase(line, "http/")) {
    t->retry_after_s.reset();
  } else if (starts_with_icase(line, kRetryAfter)) {
    t->retry_after_s = parse_retry_after(line.substr(kRetryAfter.size()), std::time(nullptr));
  }
  return n;
}

// Whether a CURLE_OPERATION_TIMEDOUT came from the connect timeout rather than the
// whole-transfer timeout. libcurl does not say; a transfer that connected cannot have hit the
// connect timeout, and otherwise the time taken tells which limit was nearer.
bool connect_timed_out(const Transfer& t, std::chrono::microseconds elapsed,
                       const ClientOptions& options) {
  curl_off_t connect_us = 0;
  curl_easy_getinfo(t.easy.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
  if (connect_us > 0) {
    return false;
  }
  const auto whole = t.request.timeout;
  const auto connect = options.connect_timeout;
  if (whole.count() <= 0) {
    return true;
  }
  return whole > connect && elapsed < connect + (whole - connect) / 2;
}

// Fills the transport-error fields of `r` for a transfer that ended with `code`.
void describe_failure(CURLcode code, const Transfer& t, Response& r, const ClientOptions& options,
                      const std::vector<std::string>& secrets) {
  long os_errno = 0;
  curl_easy_getinfo(t.easy.get(), CURLINFO_OS_ERRNO, &os_errno);
  const std::string detail = util::sanitize(t.errbuf);
  std::string message;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      r.timed_out = true;
      if (connect_timed_out(t, r.elapsed, options)) {
        r.connect_failed = true;
        message =
            "connect timed out after " + std::to_string(options.connect_timeout.count()) + " ms";
      } else {
        message = "timed out after " + std::to_string(t.request.timeout.count()) + " ms";
      }
      break;
    case CURLE_COULDNT_CONNECT:
      r.connect_failed = true;
      if (os_errno == ECONNREFUSED) {
        message = "connection refused";
      } else if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH) {
        message = "host unreachable";
      } else {
        message = "could not connect: " + detail;
      }
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      r.connect_failed = true;
      message = detail.empty() ? "could not resolve host" : detail;
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
      // The TLS handshake (or its setup) failed: the request was never sent.
      r.connect_failed = true;
      message = "TLS handshake failed" + (detail.empty() ? std::string() : ": " + detail);
      break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      if (t.too_large || code == CURLE_FILESIZE_EXCEEDED) {
        r.too_large = true;
        message = "response larger than " + std::to_string(options.max_response_bytes) + " bytes";
      } else if (t.error) {
        message = "internal error while receiving the response";
      } else {
        message = std::string(curl_easy_strerror(code));
      }
      break;
    case CURLE_GOT_NOTHING:
      message = "server closed the connection without responding";
      break;
    case CURLE_SEND_FAIL_REWIND:
      // on_seek refused to send the request a second time (see there).
      r.reset_after_send = true;
      message = "connection lost after the request was sent; not re-sent";
      break;
    case CURLE_PARTIAL_FILE:
      message = "connection closed before the response was complete";
      break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      if (os_errno == ECONNRESET) {
        message = "connection reset by peer";
      } else if (os_errno == EPIPE) {
        message = "connection closed by peer while sending";
      } else {
        message = std::string(curl_easy_strerror(code)) + (detail.empty() ? "" : ": " + detail);
      }
      break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      // The URL may carry credentials: name the problem, not the URL.
      message = std::string("invalid URL: ") + curl_easy_strerror(code);
      break;
    default:
      message = std::string(curl_easy_strerror(code)) + (detail.empty() ? "" : ": " + detail);
      break;
  }
  r.transport_error = redacted(util::sanitize(message), secrets);
}

}  // namespace

bool starts_with_icase(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) noexcept {
  constexpr std::string_view kBlank = " \t\r\n";
  const auto first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(kBlank);
  return text.substr(first, last - first + 1);
}

CURLcode configure(Transfer& t, const ClientOptions& options, const curl_slist* headers) {
  CURL* easy = t.easy.get();
  CURLcode code = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };
  set(CURLOPT_PRIVATE, static_cast<void*>(&t));
  set(CURLOPT_URL, t.request.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_POST, 1L);
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.request.body.size()));
  set(CURLOPT_READFUNCTION, &on_read);
  set(CURLOPT_READDATA, static_cast<void*>(&t));
  set(CURLOPT_SEEKFUNCTION, &on_seek);
  set(CURLOPT_SEEKDATA, static_cast<void*>(&t));
  set(CURLOPT_HTTPHEADER, headers);
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
  set(CURLOPT_ERRORBUFFER, t.errbuf);
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(t.request.timeout.count()));
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_TCP_NODELAY, 1L);
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
  set(CURLOPT_UPLOAD_BUFFERSIZE, kUploadBufferBytes);
  set(CURLOPT_MAXFILESIZE_LARGE,
      static_cast<curl_off_t>(std::min<std::uint64_t>(options.max_response_bytes,
                                                      std::numeric_limits<curl_off_t>::max())));
  return code;
}

Response make_response(Transfer& t, CURLcode code, const ClientOptions& options,
                       const std::vector<std::string>& secrets) {
  Response r;
  r.tag = t.request.tag;
  r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t.started);
  if (code == CURLE_OK) {
    r.transport_ok = true;
    curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &r.status);
    r.body = std::move(t.body);
    r.retry_after_s = t.retry_after_s;
  } else {
    describe_failure(code, t, r, options, secrets);
  }
  return r;
}

}  // namespace detail

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) noexcept {
  value = detail::trim(value);
  if (value.empty()) {
    return std::nullopt;
  }
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    double seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > detail::kMaxRetryAfter) {
        return detail::kMaxRetryAfter;
      }
    }
    return seconds;
  }
  char date[80];
  if (value.size() >= sizeof date) {
    return std::nullopt;
  }
  std::memcpy(date, value.data(), value.size());
  date[value.size()] = '\0';
  const std::time_t when = curl_getdate(date, nullptr);
  if (when == -1) {
    return std::nullopt;
  }
  const double seconds = std::difftime(when, now);
  if (seconds < 0) {
    return 0.0;
  }
  return seconds > detail::kMaxRetryAfter ? detail::kMaxRetryAfter : seconds;
}

}  // namespace llmlb::http
