#include "llmlb/backend/protocol.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>

#include "llmlb/util/text.hpp"

namespace llmlb::backend {
namespace {

// A RapidJSON output stream appending to a std::string.
class StringOutput {
 public:
  using Ch = char;
  explicit StringOutput(std::string& out) : out_(out) {}
  void Put(char c) { out_.push_back(c); }
  void Flush() {}

 private:
  std::string& out_;
};

using Writer = rapidjson::Writer<StringOutput>;
using Document = rapidjson::Document;
using Value = rapidjson::Value;

// Checks a string the encoder is about to write; `what` names it in the failure.
util::Result<std::string_view> checked(std::string_view text, const std::string& what) {
  if (text.size() > std::numeric_limits<rapidjson::SizeType>::max()) {
    return util::fail(what + " is longer than 4 GiB");
  }
  if (!is_valid_utf8(text)) {
    return util::fail(what + " is not valid UTF-8");
  }
  return text;
}

// Writes a string as a key (key == true) or a value; true on success.
bool put(Writer& writer, std::string_view text, bool key) {
  const auto length = static_cast<rapidjson::SizeType>(text.size());
  return key ? writer.Key(text.data(), length) : writer.String(text.data(), length);
}

// Writes {"<model>": model, "<prompt>": prompt}; `where` prefixes failure messages.
util::Result<bool> write_request(Writer& writer, const Protocol& protocol, std::string_view model,
                                 std::string_view prompt, const std::string& where) {
  auto model_ok = checked(model, where + "model name");
  if (!model_ok) {
    return util::fail(model_ok.error());
  }
  auto prompt_ok = checked(prompt, where + "prompt");
  if (!prompt_ok) {
    return util::fail(prompt_ok.error());
  }
  const bool written = writer.StartObject() && put(writer, protocol.model_field, true) &&
                       put(writer, model, false) && put(writer, protocol.prompt_field, true) &&
                       put(writer, prompt, false) && writer.EndObject();
  if (!written) {
    return util::fail(where + "could not be encoded as JSON");
  }
  return true;
}

util::Result<bool> check_field_names(const Protocol& protocol, bool batch) {
  std::vector<const std::string*> names = {&protocol.model_field, &protocol.prompt_field};
  if (batch) {
    names.push_back(&protocol.requests_field);
  }
  for (const std::string* name : names) {
    auto ok = checked(*name, "protocol field name");
    if (!ok) {
      return util::fail(ok.error());
    }
  }
  return true;
}

// Parses `body` into `doc`; fails with a one-line reason.
util::Result<bool> parse(Document& doc, std::string_view body) {
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
  doc.Parse<kFlags>(body.data(), body.size());
  if (doc.HasParseError()) {
    std::string reason = rapidjson::GetParseError_En(doc.GetParseError());
    if (!reason.empty() && reason.back() == '.') {
      reason.pop_back();
    }
    return util::fail("response is not valid JSON: " + reason + " (at byte " +
                      std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) {
    return util::fail("response is not a JSON object");
  }
  return true;
}

const Value* member(const Value& object, const std::string& name) {
  const auto it = object.FindMember(
      Value(rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// Accepts a decoded answer string, or says why it cannot be stored.
util::Result<std::string> answer_text(const Value& value) {
  const std::string_view text(value.GetString(), value.GetStringLength());
  if (text.find('\0') != std::string_view::npos) {
    return util::fail("answer contains a NUL character");
  }
  // RapidJSON lets a lone "\udc00" escape through as an (invalid) UTF-8 surrogate.
  if (!is_valid_utf8(text)) {
    return util::fail("answer is not valid UTF-8");
  }
  return std::string(text);
}

constexpr std::size_t kErrorChars = 200;

// The number at the dotted `path` of `object` as a token count, if it is one.
std::optional<long long> token_count(const Value& object, const std::string& path) {
  if (path.empty()) {
    return std::nullopt;
  }
  const Value* at = &object;
  std::size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!at->IsObject()) {
      return std::nullopt;
    }
    at = member(*at, key);
    if (at == nullptr) {
      return std::nullopt;
    }
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (!at->IsNumber()) {
    return std::nullopt;
  }
  const double v = at->GetDouble();
  if (!(v >= 0 && v <= 1e9)) {  // also NaN
    return std::nullopt;
  }
  return std::llround(v);
}

Usage usage_of(const Protocol& protocol, const Value& object) {
  return {token_count(object, protocol.usage_prompt_path),
          token_count(object, protocol.usage_completion_path)};
}

// A configured field name as it may appear in a one-line message.
std::string name_of(const std::string& field) {
  return util::sanitize(field, {util::Controls::one_line, 64});
}

bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Replaces, from `from` on, the run of bytes for which `keep_going` holds by "***"; returns the
// position after the replacement.
template <typename Pred>
std::size_t blank_out(std::string& text, std::size_t from, Pred keep_going) {
  std::size_t end = from;
  while (end < text.size() && keep_going(text[end])) {
    ++end;
  }
  if (end == from) {
    return from;
  }
  text.replace(from, end - from, "***");
  return from + 3;
}

// Each case-insensitive occurrence of `word` in `text`, in order; `on_match(pos)` returns where
// to search next.
template <typename F>
void each_word(std::string& text, std::string_view word, F on_match) {
  std::size_t pos = 0;
  while (pos + word.size() <= text.size()) {
    if (ascii_iequal(std::string_view(text).substr(pos, word.size()), word)) {
      pos = on_match(pos);
    } else {
      ++pos;
    }
  }
}

}  // namespace

bool is_blank(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::int32_t cp = util::next_code_point(text, i);
    const bool space = (cp >= 0x09 && cp <= 0x0D) || cp == ' ' || cp == 0x85 || cp == 0xA0 ||
                       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 ||
                       cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
    if (!space) {
      return false;
    }
  }
  return true;
}

std::string redact_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "***");
      pos += 3;
    }
    // A secret cut short by a length limit: its start at the very end of the text.
    const std::size_t cut = text.size() >= 3 && text.compare(text.size() - 3, 3, "...") == 0
                                ? text.size() - 3
                                : text.size();
    for (std::size_t k = std::min(secret.size() - 1, cut); k >= 4; --k) {
      if (text.compare(cut - k, k, secret, 0, k) == 0) {
        text.replace(cut - k, k, "***");
        break;
      }
    }
  }
  const auto token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("-._~+/=").find(c) != std::string_view::npos;
  };
  each_word(text, "bearer", [&](std::size_t pos) {
    std::size_t at = pos + 6;
    if (at >= text.size() || (text[at] != ' ' && text[at] != '\t')) {
      return at;
    }
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) {
      ++at;
    }
    return blank_out(text, at, token_char);
  });
  each_word(text, "authorization", [&](std::size_t pos) {
    std::size_t at = pos + 13;
    // "Authorization: v", "authorization=v", "\"authorization\": \"v\"", "'authorization': 'v'"
    while (at < text.size() && (text[at] == '"' || text[at] == '\'' || text[at] == ' ')) {
      ++at;
    }
    if (at >= text.size() || (text[at] != ':' && text[at] != '=')) {
      return at;
    }
    ++at;
    while (at < text.size() && (text[at] == ' ' || text[at] == '"' || text[at] == '\'')) {
      ++at;
    }
    return blank_out(text, at, [](char c) {
      return c != '"' && c != '\'' && c != ',' && c != '}' && c != ';' && c != '\n' && c != '\r' &&
             c != '&';
    });
  });
  return text;
}

bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    // Fast path for ASCII.
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    if (util::next_code_point(text, i) < 0) {
      return false;
    }
  }
  return true;
}

util::Result<std::string> encode_single(const Protocol& protocol, std::string_view model,
                                        std::string_view prompt) {
  auto names = check_field_names(protocol, false);
  if (!names) {
    return util::fail(names.error());
  }
  std::string out;
  out.reserve(model.size() + prompt.size() + protocol.model_field.size() +
              protocol.prompt_field.size() + 16);
  StringOutput stream(out);
  Writer writer(stream);
  auto written = write_request(writer, protocol, model, prompt, "");
  if (!written) {
    return util::fail(written.error());
  }
  return out;
}

util::Result<std::string> encode_batch(const Protocol& protocol, std::span<const BatchItem> items) {
  auto names = check_field_names(protocol, true);
  if (!names) {
    return util::fail(names.error());
  }
  std::size_t estimate = protocol.requests_field.size() + 8;
  for (const BatchItem& item : items) {
    estimate += item.model.size() + item.prompt.size() + protocol.model_field.size() +
                protocol.prompt_field.size() + 16;
  }
  std::string out;
  out.reserve(estimate);
  StringOutput stream(out);
  Writer writer(stream);
  if (!(writer.StartObject() && put(writer, protocol.requests_field, true) &&
        writer.StartArray())) {
    return util::fail("batch request could not be encoded as JSON");
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto written = write_request(writer, protocol, items[i].model, items[i].prompt,
                                 "batch item #" + std::to_string(i) + ": ");
    if (!written) {
      return util::fail(written.error());
    }
  }
  if (!(writer.EndArray() && writer.EndObject())) {
    return util::fail("batch request could not be encoded as JSON");
  }
  return out;
}

Usage decode_usage(const Protocol& protocol, std::string_view body) {
  Document doc;
  if (!parse(doc, body)) {
    return {};
  }
  return usage_of(protocol, doc);
}

util::Result<std::string> decode_single(const Protocol& protocol, std::string_view body,
                                        Usage* usage) {
  Document doc;
  auto parsed = parse(doc, body);
  if (!parsed) {
    return util::fail(parsed.error());
  }
  if (usage != nullptr) {
    *usage = usage_of(protocol, doc);
  }
  const Value* answer = member(doc, protocol.answer_field);
  if (answer == nullptr || !answer->IsString()) {
    const Value* error = member(doc, protocol.error_field);
    if (answer == nullptr && error != nullptr && error->IsString()) {
      return util::fail(
          "backend reported an error: " +
          util::sanitize(std::string_view(error->GetString(), error->GetStringLength()),
                         {util::Controls::one_line, kErrorChars}));
    }
    return util::fail("response has no string field '" + name_of(protocol.answer_field) + "'");
  }
  return answer_text(*answer);
}

util::Result<std::vector<ItemResult>> decode_batch(const Protocol& protocol, std::string_view body,
                                                   std::size_t expected_items) {
  Document doc;
  auto parsed = parse(doc, body);
  if (!parsed) {
    return util::fail(parsed.error());
  }
  const Value* results = member(doc, protocol.results_field);
  if (results == nullptr || !results->IsArray()) {
    return util::fail("response has no array field '" + name_of(protocol.results_field) + "'");
  }
  if (results->Size() != expected_items) {
    return util::fail("response has " + std::to_string(results->Size()) + " results for " +
                      std::to_string(expected_items) + " requests");
  }
  std::vector<ItemResult> out;
  out.reserve(expected_items);
  for (const Value& entry : results->GetArray()) {
    const Value* answer = &entry;
    const Value* error = nullptr;
    if (entry.IsObject()) {
      answer = member(entry, protocol.answer_field);
      error = member(entry, protocol.error_field);
    }
    ItemResult item;
    if (entry.IsObject()) {
      item.usage = usage_of(protocol, entry);
    }
    if (answer != nullptr && answer->IsString()) {
      auto text = answer_text(*answer);
      item.ok = text.ok();
      item.text = text.ok() ? std::move(text).value() : text.error();
    } else if (error != nullptr && error->IsString()) {
      item.text = util::sanitize(std::string_view(error->GetString(), error->GetStringLength()),
                                 {util::Controls::one_line, kErrorChars});
      if (item.text.empty()) {
        item.text = "backend reported an empty error";
      }
    } else if (error != nullptr && !error->IsNull()) {
      item.text = "backend reported an error that is not a string";
    } else {
      item.text = "result is neither a string answer nor an error";
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace llmlb::backend
