#include "llmlb/enqueue/jsonl.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <limits>
#include <pqxx/pqxx>

#include "llmlb/error.hpp"
#include "llmlb/models/limits.hpp"
#include "llmlb/util/text.hpp"

namespace llmlb::enqueue {
namespace {

bool blank(std::string_view s) {
  for (unsigned char c : s) {
    if (!std::isspace(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

util::Result<TaskInput> parse_line(std::string_view line) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
  if (doc.HasParseError()) {
    return util::fail(fmt::format("not valid JSON: {} (at byte {})",
                                  rapidjson::GetParseError_En(doc.GetParseError()),
                                  doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) {
    return util::fail("expected a JSON object like {\"prompt\": \"...\"}");
  }
  TaskInput task;
  bool has_prompt = false;
  for (auto member = doc.MemberBegin(); member != doc.MemberEnd(); ++member) {
    const std::string_view key(member->name.GetString(), member->name.GetStringLength());
    const auto& v = member->value;
    if (key == "prompt") {
      if (!v.IsString()) {
        return util::fail("\"prompt\" must be a string");
      }
      task.prompt.assign(v.GetString(), v.GetStringLength());
      has_prompt = true;
    } else if (key == "model") {
      if (v.IsNull()) {
        task.model.reset();
      } else if (v.IsString()) {
        task.model = std::string(v.GetString(), v.GetStringLength());
        if (auto ok = models::check_model_name(*task.model); !ok) {
          return util::fail("\"model\": " + ok.error());
        }
      } else {
        return util::fail("\"model\" must be a string or null");
      }
    } else if (key == "priority") {
      if (!v.IsInt()) {
        return util::fail("\"priority\" must be a whole number from -2147483648 to 2147483647");
      }
      task.priority = v.GetInt();
    } else {
      return util::fail(fmt::format("unknown key \"{}\" (expected prompt, model, priority)", key));
    }
  }
  if (!has_prompt) {
    return util::fail("missing \"prompt\"");
  }
  if (task.prompt.find('\0') != std::string::npos) {
    return util::fail("\"prompt\" contains a NUL character, which PostgreSQL text cannot hold");
  }
  if (blank(task.prompt)) {
    return util::fail("\"prompt\" is empty or only whitespace");
  }
  return task;
}

Parsed parse_stream(std::istream& in) {
  Parsed out;
  std::string line;
  while (std::getline(in, line)) {
    ++out.lines;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (blank(line)) {
      continue;
    }
    auto task = parse_line(line);
    if (task) {
      out.tasks.push_back(std::move(task).value());
    } else {
      out.errors.push_back({out.lines, task.error()});
    }
  }
  return out;
}

std::size_t insert(pqxx::connection& connection, const std::vector<TaskInput>& tasks) {
  constexpr std::size_t kBatch = 1000;
  std::size_t inserted = 0;
  try {
    pqxx::work tx(connection);
    for (std::size_t start = 0; start < tasks.size(); start += kBatch) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartArray();
      for (std::size_t i = start; i < std::min(tasks.size(), start + kBatch); ++i) {
        const auto& t = tasks[i];
        w.StartObject();
        w.Key("prompt");
        w.String(t.prompt.data(), static_cast<rapidjson::SizeType>(t.prompt.size()));
        w.Key("model");
        if (t.model) {
          w.String(t.model->data(), static_cast<rapidjson::SizeType>(t.model->size()));
        } else {
          w.Null();
        }
        w.Key("priority");
        w.Int(t.priority);
        w.EndObject();
      }
      w.EndArray();
      const auto r = tx.exec_params(
          "WITH ins AS (INSERT INTO public.tasks (prompt, model, priority)"
          " SELECT x.prompt, x.model, x.priority"
          " FROM json_to_recordset($1::json) AS x(prompt text, model text, priority integer)"
          " RETURNING 1) SELECT count(*) FROM ins",
          std::string(buf.GetString(), buf.GetSize()));
      inserted += r[0][0].as<std::size_t>();
    }
    tx.commit();
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw DatabaseError(
        fmt::format("cannot insert tasks, none were inserted: {}", util::first_line(why)));
  }
  return inserted;
}

}  // namespace llmlb::enqueue
