#include "llmlb/util/text.hpp"

namespace llmlb::util {
namespace {

std::string mark_controls(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

std::string one_line(std::string_view text, std::size_t max_chars) {
  std::string out;
  out.reserve(text.size() + 3);
  std::size_t chars = 0;
  bool pending_blank = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    const std::int32_t cp = next_code_point(text, i);
    const bool blank = cp == ' ' || (cp >= 0 && cp < 0x20) || (cp >= 0x7F && cp < 0xA0) ||
                       cp == 0x2028 || cp == 0x2029;
    if (blank) {
      pending_blank = !out.empty();
      continue;
    }
    if (chars + (pending_blank ? 1 : 0) >= max_chars) {
      out += "...";
      return out;
    }
    if (pending_blank) {
      out += ' ';
      ++chars;
      pending_blank = false;
    }
    if (cp < 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    } else {
      out.append(text.substr(start, i - start));
    }
    ++chars;
  }
  return out;
}

}  // namespace

std::string sanitize(std::string_view text, const SanitizeOptions& options) {
  if (options.controls == Controls::mark) {
    return mark_controls(text);
  }
  return one_line(text, options.max_chars);
}

std::int32_t next_code_point(std::string_view text, std::size_t& i) noexcept {
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
  const unsigned lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return static_cast<std::int32_t>(lead);
  }
  std::size_t length = 0;
  std::uint32_t cp = 0;
  std::uint32_t smallest = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1Fu;
    smallest = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0Fu;
    smallest = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07u;
    smallest = 0x10000;
  } else {
    ++i;
    return -1;
  }
  if (text.size() - i < length) {
    ++i;
    return -1;
  }
  for (std::size_t k = 1; k < length; ++k) {
    const unsigned next = byte(i + k);
    if ((next & 0xC0u) != 0x80u) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (next & 0x3Fu);
  }
  if (cp < smallest || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += length;
  return static_cast<std::int32_t>(cp);
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string prometheus_label(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace llmlb::util
