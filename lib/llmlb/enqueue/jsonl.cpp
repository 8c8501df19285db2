#include "llmlb/enqueue/jsonl.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <cctype>
#include <limits>

#include "llmlb/models/limits.hpp"

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

}  // namespace llmlb::enqueue
