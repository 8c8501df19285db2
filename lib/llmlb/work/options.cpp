#include "llmlb/work/options.hpp"

#include <fmt/format.h>
#include <algorithm>

#include "llmlb/models/limits.hpp"

namespace llmlb::work {
namespace {

/// Where the parts of a URL start and end: [scheme://][userinfo@]host[:port][/path...].
struct UrlParts {
  std::size_t authority = 0;           ///< after "://"
  std::size_t end = 0;                 ///< end of the authority: the first '/', '?' or '#' after it
  std::size_t at = std::string::npos;  ///< the '@' ending the userinfo, if any
};

UrlParts split(const std::string& url) {
  UrlParts p;
  const auto scheme = url.find("://");
  p.authority = scheme == std::string::npos ? 0 : scheme + 3;
  p.end = std::min(url.find_first_of("/?#", p.authority), url.size());
  // The last '@' of the authority: a password may hold an unescaped '@'.
  const auto at = url.rfind('@', p.end == 0 ? 0 : p.end - 1);
  if (at != std::string::npos && at >= p.authority && p.end > p.authority) {
    p.at = at;
  }
  return p;
}

util::Result<bool> check_backend_url(const std::string& url) {
  if (url.empty()) {
    return util::fail("no backend URL: pass --backend-url or set LLMLB_BACKEND_URL");
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return util::fail("the backend URL must start with http:// or https://");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return util::fail(
          "the backend URL must not contain spaces or control characters (escape them as %20)");
    }
  }
  const UrlParts p = split(url);
  const std::size_t host_start = p.at == std::string::npos ? p.authority : p.at + 1;
  std::string host = url.substr(host_start, p.end - host_start);
  std::string port;
  if (!host.empty() && host[0] == '[') {
    const auto close = host.find(']');
    if (close == std::string::npos) {
      return util::fail("the backend URL has an IPv6 address without its closing ]");
    }
    const std::string rest = host.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') {
      return util::fail("the backend URL has text after its IPv6 address");
    }
    port = rest.empty() ? std::string() : rest.substr(1);
    host = host.substr(0, close + 1);
    if (host.size() <= 2) {
      return util::fail("the backend URL has an empty IPv6 address");
    }
  } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (port.empty()) {
      return util::fail("the backend URL has a ':' but no port after it");
    }
  }
  if (host.empty()) {
    return util::fail("the backend URL has no host, e.g. http://127.0.0.1:8000");
  }
  if (!port.empty()) {
    const bool digits =
        port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return util::fail("the backend URL's port must be a number from 1 to 65535");
    }
  }
  return true;
}

}  // namespace

std::string redact_url(const std::string& url) {
  const UrlParts p = split(url);
  if (p.at == std::string::npos) {
    return url;
  }
  const auto colon = url.find(':', p.authority);
  if (colon == std::string::npos || colon > p.at) {
    return url;
  }
  return url.substr(0, colon + 1) + "***" + url.substr(p.at);
}

std::string url_password(const std::string& url) {
  const UrlParts p = split(url);
  if (p.at == std::string::npos) {
    return {};
  }
  const auto colon = url.find(':', p.authority);
  if (colon == std::string::npos || colon > p.at) {
    return {};
  }
  return url.substr(colon + 1, p.at - colon - 1);
}

util::Result<bool> validate(const WorkOptions& o) {
  if (auto ok = check_backend_url(o.backend_url); !ok) {
    return ok;
  }
  if (o.max_inflight_total < 1 || o.max_inflight_total > 100'000) {
    return util::fail("--max-inflight-total must be from 1 to 100000");
  }
  if (o.batch_size < 1 || o.batch_size > 1000) {
    return util::fail("--batch-size must be from 1 to 1000");
  }
  if (o.max_attempts < 1 || o.max_attempts > 1000) {
    return util::fail("--max-attempts must be from 1 to 1000");
  }
  if (o.max_tasks && *o.max_tasks < 1) {
    return util::fail("--max-tasks must be at least 1");
  }
  if (o.poll_interval < Millis(1) || o.poll_interval > Millis(250)) {
    return util::fail("--poll-interval must be from 1ms to 250ms");
  }
  if (!(o.overload_latency_ratio == 0 ||
        (o.overload_latency_ratio >= 1.5 && o.overload_latency_ratio <= 100))) {
    return util::fail("--overload-latency-ratio must be 0 (off) or from 1.5 to 100");
  }
  if (o.request_timeout < Millis(10)) {
    return util::fail("--request-timeout must be at least 10ms");
  }
  if (o.lease < Millis(1000)) {
    return util::fail("--lease must be at least 1s");
  }
  if (o.max_runtime && *o.max_runtime <= Millis(0)) {
    return util::fail("--max-runtime must be positive");
  }
  if (o.max_response_bytes < 64) {
    return util::fail("--max-response-bytes must be at least 64");
  }
  if (o.max_prompt_bytes < 1) {
    return util::fail("--max-prompt-bytes must be at least 1");
  }
  if (o.protocol.max_retry_after < Millis(1000) || o.protocol.max_retry_after > Millis(3'600'000)) {
    return util::fail("--max-retry-after must be from 1s to 1h");
  }
  for (const auto& m : o.models) {
    if (!backend::is_valid_utf8(m) || m.find('\0') != std::string::npos) {
      return util::fail("--models: a model name must be valid UTF-8");
    }
    if (auto ok = models::check_model_name(m); !ok) {
      return util::fail("--models: " + ok.error());
    }
  }
  for (const auto* p : {&o.protocol.single_path, &o.protocol.batch_path}) {
    if (p->empty() || (*p)[0] != '/') {
      return util::fail(fmt::format("backend path '{}' must start with /", *p));
    }
  }
  return true;
}

}  // namespace llmlb::work
