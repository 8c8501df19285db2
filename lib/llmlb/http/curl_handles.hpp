// RAII owners for libcurl's C handles: the easy handle, the multi handle and the header list,
// plus the process-wide curl_global_init guard. Each owner is move-only; a moved-from owner is
// empty and its destructor does nothing.
#pragma once

#include <curl/curl.h>

#include <string>
#include <variant>

#include "llmlb/util/result.hpp"

namespace llmlb::http {

/// Runs curl_global_init(CURL_GLOBAL_DEFAULT) the first time it is called in the process; every
/// later call, from any thread, returns the first call's outcome without initialising again.
/// Thread-safe. libcurl is deliberately never de-initialised: curl_global_cleanup is not
/// thread-safe and would race with handles that are still alive when the process exits.
/// Returns a failure "libcurl initialisation failed: <reason>" if libcurl cannot start.
util::Result<std::monostate> ensure_curl_global_init();

/// Owns one CURL easy handle; curl_easy_cleanup on destruction.
class EasyHandle {
 public:
  /// An empty owner (get() == nullptr).
  EasyHandle() noexcept = default;
  /// Takes ownership of `handle` (may be null).
  explicit EasyHandle(CURL* handle) noexcept : handle_(handle) {}
  /// Cleans the handle up. The handle must not still be attached to a multi handle.
  ~EasyHandle();

  EasyHandle(const EasyHandle&) = delete;
  EasyHandle& operator=(const EasyHandle&) = delete;
  EasyHandle(EasyHandle&& other) noexcept : handle_(other.release()) {}
  /// Cleans up the handle currently owned, then takes `other`'s.
  EasyHandle& operator=(EasyHandle&& other) noexcept;

  /// Initialises libcurl if needed and returns a fresh easy handle; fails if libcurl cannot be
  /// initialised or memory runs out.
  static util::Result<EasyHandle> create();

  /// The owned handle, or nullptr; ownership stays here.
  CURL* get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  /// Gives up ownership and returns the handle (the caller must clean it up).
  CURL* release() noexcept;

 private:
  CURL* handle_ = nullptr;
};

/// Owns one CURLM multi handle; curl_multi_cleanup on destruction.
class MultiHandle {
 public:
  /// An empty owner (get() == nullptr).
  MultiHandle() noexcept = default;
  /// Takes ownership of `handle` (may be null).
  explicit MultiHandle(CURLM* handle) noexcept : handle_(handle) {}
  /// Cleans the handle up. Every easy handle should have been removed from it first (libcurl
  /// does not do that for us); easy handles may be cleaned up before or after.
  ~MultiHandle();

  MultiHandle(const MultiHandle&) = delete;
  MultiHandle& operator=(const MultiHandle&) = delete;
  MultiHandle(MultiHandle&& other) noexcept : handle_(other.release()) {}
  /// Cleans up the handle currently owned, then takes `other`'s.
  MultiHandle& operator=(MultiHandle&& other) noexcept;

  /// Initialises libcurl if needed and returns a fresh multi handle; fails if libcurl cannot be
  /// initialised or memory runs out.
  static util::Result<MultiHandle> create();

  /// The owned handle, or nullptr; ownership stays here.
  CURLM* get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  /// Gives up ownership and returns the handle (the caller must clean it up).
  CURLM* release() noexcept;

 private:
  CURLM* handle_ = nullptr;
};

/// Owns a curl_slist (a list of header lines); curl_slist_free_all on destruction. The list
/// must outlive every easy handle that was given it with CURLOPT_HTTPHEADER.
class SList {
 public:
  /// An empty list (get() == nullptr, which libcurl reads as "no list").
  SList() noexcept = default;
  ~SList();

  SList(const SList&) = delete;
  SList& operator=(const SList&) = delete;
  SList(SList&& other) noexcept : head_(other.head_) { other.head_ = nullptr; }
  /// Frees the list currently owned, then takes `other`'s.
  SList& operator=(SList&& other) noexcept;

  /// Appends a copy of `line`. Returns false, leaving the list unchanged, if memory ran out.
  /// `line` must not contain a NUL byte (libcurl would cut it there).
  bool append(const std::string& line);

  /// The head of the list, or nullptr when empty; ownership stays here.
  curl_slist* get() const noexcept { return head_; }

 private:
  curl_slist* head_ = nullptr;
};

}  // namespace llmlb::http
