#include "llmlb/work/options.hpp"

#include <doctest/doctest.h>

#include <cmath>

#include <string>

using llmlb::work::redact_url;
using llmlb::work::url_password;
using llmlb::work::validate;
using llmlb::work::WorkOptions;

namespace {

WorkOptions with_url(const std::string& url) {
  WorkOptions o;
  o.backend_url = url;
  return o;
}

}  // namespace

TEST_CASE("work options: backend URLs are checked, and a failure never shows the password") {
  for (const char* good :
       {"http://127.0.0.1:8000", "https://api.example/v1/", "http://h", "http://[::1]:8000/x",
        "http://alice:s3cret@host:1/p?q=1", "https://h:65535"}) {
    CAPTURE(good);
    CHECK(validate(with_url(good)).ok());
  }
  struct Bad {
    const char* url;
    const char* message;
  };
  const Bad bad[] = {
      {"", "no backend URL"},
      {"http://", "no host"},
      {"https:///path", "no host"},
      {"http://alice:s3cret@", "no host"},
      {"http://alice:s3cret@h:99999", "port must be a number from 1 to 65535"},
      {"http://h:0", "port must be"},
      {"http://h:80x", "port must be"},
      {"http://h:", "no port"},
      {"http://h/a b", "spaces or control characters"},
      {"http://alice:s3 cret@h", "spaces or control characters"},
      {"http://h/\x01", "spaces or control characters"},
      {" http://h", "must start with http:// or https://"},
      {"ftp://h", "must start with http:// or https://"},
      {"file:///etc/passwd", "must start with http:// or https://"},
      {"HTTP//h", "must start with http:// or https://"},
      {"http://[::1", "closing ]"},
      {"http://[]:80", "empty IPv6"},
      {"http://[::1]x", "after its IPv6"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.url);
    const auto r = validate(with_url(b.url));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(b.message) != std::string::npos);
    CHECK(r.error().find("s3cret") == std::string::npos);
    CHECK(r.error().find('\n') == std::string::npos);
  }
}

TEST_CASE("work options: redact_url hides the userinfo's password") {
  CHECK(redact_url("http://alice:secret@host") == "http://alice:***@host");
  CHECK(redact_url("https://alice:p@ss@host:8/x?y=1") == "https://alice:***@host:8/x?y=1");
  CHECK(redact_url("http://alice@host/a:b@c") == "http://alice@host/a:b@c");
  CHECK(redact_url("http://host:80/a") == "http://host:80/a");
  CHECK(redact_url("http://:secret@host") == "http://:***@host");
  CHECK(url_password("http://alice:secret@host") == "secret");
  CHECK(url_password("https://alice:p@ss@host:8/x") == "p@ss");
  CHECK(url_password("http://alice@host") == "");
  CHECK(url_password("http://host:80") == "");
}

TEST_CASE("work options: --max-retry-after and --models") {
  WorkOptions o = with_url("http://h");
  CHECK(o.protocol.max_retry_after == std::chrono::minutes(10));
  o.protocol.max_retry_after = std::chrono::milliseconds(999);
  CHECK(validate(o).error() == "--max-retry-after must be from 1s to 1h");
  o.protocol.max_retry_after = std::chrono::hours(2);
  CHECK_FALSE(validate(o).ok());
  o.protocol.max_retry_after = std::chrono::hours(1);
  CHECK(validate(o).ok());
  o.models = {"good", "bad\xff"};
  CHECK(validate(o).error() == "--models: a model name must be valid UTF-8");
  o.models = {"caf\xC3\xA9"};
  CHECK(validate(o).ok());
  o.models = {std::string("a\0b", 3)};
  CHECK_FALSE(validate(o).ok());
}

TEST_CASE("work options: --overload-latency-ratio is 0 (off) or from 1.5 to 100") {
  for (const double good : {0.0, 1.5, 2.5, 100.0}) {
    auto o = with_url("http://127.0.0.1:8080");
    o.overload_latency_ratio = good;
    CHECK(validate(o).ok());
  }
  for (const double bad : {-1.0, 1.0, 1.49, 100.5, std::nan("")}) {
    auto o = with_url("http://127.0.0.1:8080");
    o.overload_latency_ratio = bad;
    const auto r = validate(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("--overload-latency-ratio") != std::string::npos);
  }
}
