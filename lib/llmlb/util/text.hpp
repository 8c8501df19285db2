// Text helpers for output: the one sanitiser for text that came from outside (the database, a
// backend, libpq, libcurl), escaping for HTML and Prometheus, and first_line() for messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace llmlb::util {

/// How sanitize() treats control characters.
enum class Controls {
  /// Byte-wise: every C0 control byte and DEL becomes '?'; nothing else changes (the length is
  /// kept, UTF-8 passes through untouched). For names printed in terminal tables, so that they
  /// cannot move the cursor or recolour the terminal but still line up.
  mark,
  /// UTF-8 aware, for one log line, an error message or a stored error text: invalid UTF-8
  /// becomes U+FFFD; blanks (space, C0 controls such as NUL, CR, LF and tab, DEL, C1 controls,
  /// U+2028, U+2029) collapse to one space; both ends are trimmed. The result is valid UTF-8
  /// without NUL or line breaks.
  one_line,
};

/// No limit on the length of sanitize()'s result.
inline constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();

/// Options of sanitize().
struct SanitizeOptions {
  Controls controls = Controls::one_line;
  /// With Controls::one_line only: keep the first `max_chars` code points and append "..." when
  /// something was cut. Ignored by Controls::mark.
  std::size_t max_chars = kUnlimited;
};

/// `text` made safe to show, as `options` says (see Controls). Never throws but std::bad_alloc.
/// The one sanitiser of llmlb: use it rather than a local loop over control characters.
std::string sanitize(std::string_view text, const SanitizeOptions& options = {});

/// Decodes the UTF-8 code point starting at text[i] (i < text.size()) and advances i past it.
/// Returns -1 for a byte that does not start a well-formed sequence (RFC 3629: no overlong
/// forms, no surrogates, nothing above U+10FFFF); i then moves by one byte.
std::int32_t next_code_point(std::string_view text, std::size_t& i) noexcept;

/// Escapes &, <, >, " and ' so that `text` is safe in HTML text and in quoted attributes.
std::string html_escape(std::string_view text);

/// Escapes a Prometheus label value: backslash, double quote and newline (exposition format).
std::string prometheus_label(std::string_view text);

/// The first line of `text` (everything before the first '\n'); all of it when it has none.
/// Used to keep database error messages to one line.
inline std::string first_line(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace llmlb::util
