// libFuzzer target for the backend response decoders and their classification.
//
// Input layout: byte 0 = flags, byte 1 = expected batch length, then, when flags bit 0 is set,
// three '\n'-terminated field names (answer, results, error), then the response body.
// Besides "no crash, no sanitizer report", it checks the decoders' promises: answers are valid
// UTF-8 without NUL, error texts are one valid UTF-8 line, and encode/decode round-trips.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "llmlb/backend/outcome.hpp"
#include "llmlb/backend/protocol.hpp"

namespace {

using llmlb::backend::is_valid_utf8;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool one_line_utf8(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return false;
    }
  }
  return is_valid_utf8(text);
}

std::string_view take_line(std::string_view& rest) {
  const auto end = rest.find('\n');
  const std::string_view line = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return line;
}

void check_answer(std::string_view answer) {
  require(is_valid_utf8(answer));
  require(answer.find('\0') == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  const std::size_t expected = data[1] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  llmlb::backend::Protocol protocol;
  if ((flags & 1) != 0) {
    protocol.answer_field = std::string(take_line(rest));
    protocol.results_field = std::string(take_line(rest));
    protocol.error_field = std::string(take_line(rest));
  }
  const std::string_view body = rest;

  auto single = llmlb::backend::decode_single(protocol, body);
  if (single) {
    check_answer(*single);
  } else {
    require(one_line_utf8(single.error()));
  }

  auto batch = llmlb::backend::decode_batch(protocol, body, expected);
  if (batch) {
    require(batch->size() == expected);
    for (const auto& item : *batch) {
      if (item.ok) {
        check_answer(item.text);
      } else {
        require(one_line_utf8(item.text));
      }
    }
  } else {
    require(one_line_utf8(batch.error()));
  }

  static constexpr long kStatuses[] = {200, 200, 200, 200, 429, 503, 404, 302};
  llmlb::http::Response response;
  response.transport_ok = true;
  response.status = kStatuses[(flags >> 1) & 7];
  response.body = std::string(body);
  const auto outcome = llmlb::backend::classify_single(protocol, response);
  require(one_line_utf8(outcome.error));
  require(!outcome.error_class.empty());
  if (outcome.kind == llmlb::backend::OutcomeKind::ok) {
    require(single.ok() && outcome.answer == *single);
  }
  const auto outcomes = llmlb::backend::classify_batch(protocol, response, expected);
  require(outcomes.size() == expected);
  for (const auto& o : outcomes) {
    require(one_line_utf8(o.error));
  }

  // Whatever valid UTF-8 the body is, encoding it as a prompt and decoding that must give it
  // back exactly (NUL aside: answers may not hold it).
  if (is_valid_utf8(body) && (flags & 1) == 0) {
    auto encoded = llmlb::backend::encode_single(protocol, "model", body);
    require(encoded.ok());
    llmlb::backend::Protocol echo;
    echo.answer_field = echo.prompt_field;
    auto decoded = llmlb::backend::decode_single(echo, *encoded);
    if (body.find('\0') == std::string_view::npos) {
      require(decoded.ok() && *decoded == body);
    } else {
      require(!decoded.ok());
    }
  } else if ((flags & 1) == 0) {
    require(!llmlb::backend::encode_single(protocol, "model", body).ok());
  }
  return 0;
}
