#include "llmlb/work/options.hpp"

#include <fmt/format.h>

#include "llmlb/models/limits.hpp"

namespace llmlb::work {

util::Result<bool> validate(const WorkOptions& o) {
  if (o.backend_url.empty()) {
    return util::fail("no backend URL: pass --backend-url or set LLMLB_BACKEND_URL");
  }
  if (o.backend_url.rfind("http://", 0) != 0 && o.backend_url.rfind("https://", 0) != 0) {
    return util::fail("the backend URL must start with http:// or https://");
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
  for (const auto& m : o.models) {
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
