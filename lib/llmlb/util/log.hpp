// Log lines to stderr, as text for people or JSON Lines for machines. Each line is written with
// one write(2), so lines from concurrent processes sharing a file do not interleave.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmlb::util {

enum class LogFormat { text, json };

/// One named value of a log line. Numbers are passed pre-formatted with `number = true` so that
/// JSON output keeps them unquoted.
struct LogField {
  std::string key;
  std::string value;
  bool number = false;
};

/// A field holding a number.
LogField num(std::string key, double value);
/// A field holding a whole number.
LogField num(std::string key, long long value);
/// A field holding text.
LogField str(std::string key, std::string value);

/// Writes log lines to a file descriptor (stderr by default). Not thread-safe; llmlb is
/// single-threaded.
class Logger {
 public:
  explicit Logger(LogFormat format = LogFormat::text, int fd = 2) : format_(format), fd_(fd) {}

  /// Writes one line. Text: "llmlb: <message>"; JSON: {"ts": ISO-8601 UTC, "level", "event",
  /// "msg", fields...}. `message` must already be one line and free of secrets.
  void write(std::string_view level, std::string_view event, std::string_view message,
             const std::vector<LogField>& fields = {}) const;

  /// Writes a raw, already formatted chunk (the live table); ignored in JSON mode.
  void raw(std::string_view text) const;

  LogFormat format() const noexcept { return format_; }

 private:
  LogFormat format_;
  int fd_;
};

}  // namespace llmlb::util
