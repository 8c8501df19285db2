#include "llmlb/http/client.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <limits>
#include <unordered_map>
#include <utility>

#include "llmlb/error.hpp"
#include "llmlb/http/curl_handles.hpp"
#include "llmlb/http/transfer.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::http {
namespace {

using Clock = std::chrono::steady_clock;

using detail::Clock;
using detail::starts_with_icase;
using detail::Transfer;
using detail::trim;

// Smallest connection cache; it grows to twice the number in flight when that is larger.
constexpr long kMinConnectionCache = 64;
}  // namespace

struct Client::Impl {
  ClientOptions options;
  SList headers;
  std::vector<std::string> secrets;  // header values, scrubbed from every error text
  MultiHandle multi;
  long connection_cache = 0;
  std::unordered_map<Transfer*, std::unique_ptr<Transfer>> active;
  std::vector<Response> ready;
  std::exception_ptr pending;

  ~Impl() {
    for (auto& entry : active) {
      curl_multi_remove_handle(multi.get(), entry.second->easy.get());
    }
  }

  void set_connection_cache(long size) {
    const CURLMcode code = curl_multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS, size);
    if (code != CURLM_OK) {
      throw RuntimeError(std::string("libcurl: cannot size the connection cache: ") +
                         curl_multi_strerror(code));
    }
    connection_cache = size;
  }

  // Hands the transfer that owns `easy` over to `ready`.
  void finish(CURL* easy, CURLcode code) {
    char* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    const auto it = active.find(reinterpret_cast<Transfer*>(priv));
    if (it == active.end()) {
      curl_multi_remove_handle(multi.get(), easy);  // not ours; cannot happen
      return;
    }
    std::unique_ptr<Transfer> t = std::move(it->second);
    active.erase(it);
    curl_multi_remove_handle(multi.get(), easy);  // getinfo still works afterwards
    Response response = detail::make_response(*t, code, options, secrets);
    if (t->error && !pending) {
      pending = t->error;
    }
    ready.push_back(std::move(response));
  }

  // One curl_multi_perform, then collects every finished transfer into `ready`.
  void drive() {
    int running = 0;
    const CURLMcode code = curl_multi_perform(multi.get(), &running);
    if (code != CURLM_OK) {
      throw RuntimeError(std::string("libcurl: ") + curl_multi_strerror(code));
    }
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi.get(), &left)) {
      if (message->msg == CURLMSG_DONE) {
        // Copy out before finish(): removing the handle invalidates `message`.
        CURL* easy = message->easy_handle;
        const CURLcode result = message->data.result;
        finish(easy, result);
      }
    }
  }

  void rethrow_pending() {
    if (pending) {
      std::rethrow_exception(std::exchange(pending, nullptr));
    }
  }

  std::vector<Response> take_ready() { return std::exchange(ready, {}); }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  auto multi = MultiHandle::create();
  if (!multi) {
    throw RuntimeError(multi.error());
  }
  im.multi = std::move(multi).value();
  bool has_content_type = false;
  for (std::size_t i = 0; i < options.headers.size(); ++i) {
    const std::string& line = options.headers[i];
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      throw UsageError("HTTP header #" + std::to_string(i + 1) +
                       " contains a line break or NUL character");
    }
    has_content_type = has_content_type || starts_with_icase(line, "content-type:");
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      const std::string_view value = trim(std::string_view(line).substr(colon + 1));
      if (value.size() >= 4) {
        im.secrets.emplace_back(value);
      }
    }
    if (!im.headers.append(line)) {
      throw RuntimeError("libcurl: out of memory building the request headers");
    }
  }
  // Bodies can be megabytes: never wait for "100 Continue" before sending one.
  if (!im.headers.append("Expect:") ||
      (!has_content_type && !im.headers.append("Content-Type: application/json"))) {
    throw RuntimeError("libcurl: out of memory building the request headers");
  }
  im.set_connection_cache(kMinConnectionCache);
  if (options.max_connections > 0) {
    const CURLMcode code =
        curl_multi_setopt(im.multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, options.max_connections);
    if (code != CURLM_OK) {
      throw RuntimeError(std::string("libcurl: cannot limit connections: ") +
                         curl_multi_strerror(code));
    }
  }
  im.options = std::move(options);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::submit(Request request) {
  Impl& im = *impl_;
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->max_bytes = im.options.max_response_bytes;
  // A fresh easy handle per request: connections and the DNS cache live in the multi handle,
  // so reuse would save only a small allocation, while libcurl 7.88 keeps a failed transfer's
  // receive buffer across curl_easy_reset and then refuses CURLOPT_BUFFERSIZE.
  auto easy = EasyHandle::create();
  if (!easy) {
    throw RuntimeError(easy.error());
  }
  t->easy = std::move(easy).value();
  const CURLcode code = detail::configure(*t, im.options, im.headers.get());
  if (code != CURLE_OK) {
    throw RuntimeError(std::string("libcurl: cannot set up an HTTP request: ") +
                       curl_easy_strerror(code));
  }
  // Every connection in use stays in the cache, so it must hold more than are in flight, or
  // finished connections get closed instead of kept alive.
  const auto wanted = static_cast<long>(im.active.size() + 1);
  if (wanted > im.connection_cache) {
    im.set_connection_cache(2 * wanted);
  }
  Transfer* raw = t.get();
  im.active.emplace(raw, std::move(t));
  raw->started = Clock::now();
  const CURLMcode added = curl_multi_add_handle(im.multi.get(), raw->easy.get());
  if (added != CURLM_OK) {
    im.active.erase(raw);
    throw RuntimeError(std::string("libcurl: cannot start an HTTP request: ") +
                       curl_multi_strerror(added));
  }
}

std::size_t Client::in_flight() const noexcept {
  return impl_ ? impl_->active.size() + impl_->ready.size() : 0;
}

std::vector<Response> Client::wait(std::chrono::milliseconds timeout, int wake_fd) {
  Impl& im = *impl_;
  const auto deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  for (;;) {
    im.drive();
    im.rethrow_pending();
    if (!im.ready.empty()) {
      return im.take_ready();
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      return {};
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int poll_ms = static_cast<int>(std::min<decltype(left)>(left, INT_MAX));
    curl_waitfd wake{};
    wake.fd = wake_fd;
    wake.events = CURL_WAIT_POLLIN;
    const CURLMcode code = curl_multi_poll(im.multi.get(), wake_fd >= 0 ? &wake : nullptr,
                                           wake_fd >= 0 ? 1U : 0U, poll_ms, nullptr);
    if (code != CURLM_OK) {
      throw RuntimeError(std::string("libcurl: ") + curl_multi_strerror(code));
    }
    if (wake_fd >= 0 && wake.revents != 0) {
      im.drive();
      im.rethrow_pending();
      return im.take_ready();
    }
  }
}

std::vector<Response> Client::cancel_all() {
  Impl& im = *impl_;
  std::vector<Response> out = im.take_ready();
  out.reserve(out.size() + im.active.size());
  const auto now = Clock::now();
  for (auto& entry : im.active) {
    Transfer& t = *entry.second;
    curl_multi_remove_handle(im.multi.get(), t.easy.get());
    Response r;
    r.tag = t.request.tag;
    r.transport_error = "cancelled";
    r.cancelled = true;
    r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(now - t.started);
    out.push_back(std::move(r));
  }
  im.active.clear();
  im.pending = nullptr;
  return out;
}

}  // namespace llmlb::http
