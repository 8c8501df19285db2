#include "llmlb/http/curl_handles.hpp"

#include <utility>

namespace llmlb::http {

util::Result<std::monostate> ensure_curl_global_init() {
  // A function-local static is initialised exactly once, thread-safely (C++11 "magic statics").
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return util::fail(std::string("libcurl initialisation failed: ") + curl_easy_strerror(code));
  }
  return std::monostate{};
}

EasyHandle::~EasyHandle() {
  if (handle_ != nullptr) {
    curl_easy_cleanup(handle_);
  }
}

EasyHandle& EasyHandle::operator=(EasyHandle&& other) noexcept {
  if (this != &other) {
    EasyHandle old(std::exchange(handle_, other.release()));
  }
  return *this;
}

util::Result<EasyHandle> EasyHandle::create() {
  auto init = ensure_curl_global_init();
  if (!init) {
    return util::fail(init.error());
  }
  EasyHandle handle(curl_easy_init());
  if (!handle) {
    return util::fail("curl_easy_init failed (out of memory?)");
  }
  return handle;
}

CURL* EasyHandle::release() noexcept {
  return std::exchange(handle_, nullptr);
}

MultiHandle::~MultiHandle() {
  if (handle_ != nullptr) {
    curl_multi_cleanup(handle_);
  }
}

MultiHandle& MultiHandle::operator=(MultiHandle&& other) noexcept {
  if (this != &other) {
    MultiHandle old(std::exchange(handle_, other.release()));
  }
  return *this;
}

util::Result<MultiHandle> MultiHandle::create() {
  auto init = ensure_curl_global_init();
  if (!init) {
    return util::fail(init.error());
  }
  MultiHandle handle(curl_multi_init());
  if (!handle) {
    return util::fail("curl_multi_init failed (out of memory?)");
  }
  return handle;
}

CURLM* MultiHandle::release() noexcept {
  return std::exchange(handle_, nullptr);
}

SList::~SList() {
  if (head_ != nullptr) {
    curl_slist_free_all(head_);
  }
}

SList& SList::operator=(SList&& other) noexcept {
  if (this != &other) {
    if (head_ != nullptr) {
      curl_slist_free_all(head_);
    }
    head_ = std::exchange(other.head_, nullptr);
  }
  return *this;
}

bool SList::append(const std::string& line) {
  // On failure curl_slist_append returns null and leaves the old list intact.
  curl_slist* grown = curl_slist_append(head_, line.c_str());
  if (grown == nullptr) {
    return false;
  }
  head_ = grown;
  return true;
}

}  // namespace llmlb::http
