// The sanitiser, the escapes and first_line.
#include "llmlb/util/text.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace llmlb::util;
using namespace std::string_literals;

TEST_CASE("first_line keeps everything before the first newline") {
  CHECK(first_line("ERROR: boom\nDETAIL: more\n") == "ERROR: boom");
  CHECK(first_line("one line") == "one line");
  CHECK(first_line("") == "");
  CHECK(first_line("\nafter") == "");
}

TEST_CASE("escapes for HTML and Prometheus labels") {
  CHECK(html_escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  CHECK(prometheus_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("sanitize with Controls::mark replaces control bytes one for one") {
  CHECK(sanitize("a\tb\x7f", {Controls::mark}) == "a?b?");
  CHECK(sanitize("\x1b[2Jx\n", {Controls::mark}) == "?[2Jx?");
  CHECK(sanitize("caf\xC3\xA9 \xFF", {Controls::mark}) == "caf\xC3\xA9 \xFF");  // bytes kept
  CHECK(sanitize("", {Controls::mark}).empty());
}

TEST_CASE("sanitize with Controls::one_line") {
  const auto one_line = [](std::string_view text, std::size_t max_chars) {
    return sanitize(text, {Controls::one_line, max_chars});
  };
  CHECK(one_line("", 10).empty());
  CHECK(one_line("  a\r\n\tb  \n", 10) == "a b");
  CHECK(one_line("nul\0here"s, 20) == "nul here");
  CHECK(one_line("abcdef", 3) == "abc...");
  CHECK(one_line("abc", 3) == "abc");
  CHECK(one_line("bad \xFF byte", 20) == "bad \xEF\xBF\xBD byte");
  CHECK(one_line("\xC3\xA9\xC3\xA9\xC3\xA9", 2) == "\xC3\xA9\xC3\xA9...");
  CHECK(one_line("a \xE2\x80\xA8 b", 10) == "a b");
  const std::string cut = one_line(std::string(1000, '\xC3'), 200);
  CHECK(cut.find('\0') == std::string::npos);
  CHECK(cut.size() == 200 * 3 + 3);
  // The default: one line, no limit.
  CHECK(sanitize("FATAL:  no\n\tway ") == "FATAL: no way");
  CHECK(sanitize(std::string(5000, 'x')).size() == 5000);
}

TEST_CASE("next_code_point decodes UTF-8 and flags bad bytes") {
  std::size_t i = 0;
  CHECK(next_code_point("\xC3\xA9", i) == 0xE9);
  CHECK(i == 2);
  i = 0;
  CHECK(next_code_point("\xED\xA0\x80", i) == -1);  // a surrogate
  CHECK(i == 1);
  i = 0;
  CHECK(next_code_point("A", i) == 'A');
}
