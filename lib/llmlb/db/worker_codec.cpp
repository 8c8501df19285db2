#include "llmlb/db/worker_codec.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace llmlb::db {

std::string_view to_sql(work::ResultKind kind) noexcept {
  switch (kind) {
    case work::ResultKind::ok:
      return "ok";
    case work::ResultKind::transient:
      return "transient";
    case work::ResultKind::permanent:
      return "permanent";
    case work::ResultKind::release:
      return "release";
  }
  return "release";
}

std::string_view to_sql(work::Endpoint endpoint) noexcept {
  return endpoint == work::Endpoint::batch ? "batch" : "single";
}

namespace {
constexpr std::pair<work::ModelNote, std::string_view> kNotes[] = {
    {work::ModelNote::rate, "rate"},           {work::ModelNote::inflight, "inflight"},
    {work::ModelNote::cooldown, "cooldown"},   {work::ModelNote::idle, "idle"},
    {work::ModelNote::full, "full"},           {work::ModelNote::more, "more"},
    {work::ModelNote::suspended, "suspended"},
};
}  // namespace

std::string_view to_sql(work::ModelNote note) noexcept {
  for (const auto& [n, text] : kNotes) {
    if (n == note) {
      return text;
    }
  }
  return "idle";
}

std::optional<work::ModelNote> note_from_sql(std::string_view text) noexcept {
  for (const auto& [n, t] : kNotes) {
    if (t == text) {
      return n;
    }
  }
  return std::nullopt;
}

std::optional<std::string> text_array(const std::vector<std::string>& items) {
  if (items.empty()) {
    return std::nullopt;
  }
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string encode_results(const std::vector<work::TaskResult>& results) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&](const char* key, std::string_view s) {
    w.Key(key);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartArray();
  for (const auto& r : results) {
    w.StartObject();
    w.Key("id");
    w.Int64(r.lease.task_id);
    w.Key("token");
    w.Int64(r.lease.token);
    text("model", r.lease.model);
    text("outcome", to_sql(r.kind));
    if (r.kind == work::ResultKind::ok) {
      text("answer", r.answer);
    }
    if (!r.error.empty()) {
      text("error", r.error);
    }
    if (!r.call.error_class.empty()) {
      text("error_class", r.call.error_class);
    }
    if (r.call.http_status != 0) {
      w.Key("http_status");
      w.Int64(r.call.http_status);
    }
    text("endpoint", to_sql(r.call.endpoint));
    if (!r.lease.claimed_at.empty()) {
      text("claimed_at", r.lease.claimed_at);
    }
    w.Key("send_offset_ms");
    w.Double(r.call.send_offset_ms);
    w.Key("latency_ms");
    w.Double(r.call.latency_ms);
    w.Key("retry_seconds");
    w.Double(r.retry_seconds);
    w.Key("sent");
    w.Bool(r.call.sent);
    w.Key("prompt_bytes");
    w.Uint64(r.call.prompt_bytes);
    if (r.kind == work::ResultKind::ok) {
      w.Key("answer_bytes");
      w.Uint64(r.call.answer_bytes);
    }
    if (r.call.usage.prompt_tokens) {
      w.Key("prompt_tokens");
      w.Int64(*r.call.usage.prompt_tokens);
    }
    if (r.call.usage.completion_tokens) {
      w.Key("completion_tokens");
      w.Int64(*r.call.usage.completion_tokens);
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace llmlb::db
