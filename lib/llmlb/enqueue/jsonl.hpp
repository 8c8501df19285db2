// Reading tasks from JSON Lines: {"prompt": "...", "model": "m" | null, "priority": 0}.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmlb/util/result.hpp"

namespace llmlb::enqueue {

/// One task to insert.
struct TaskInput {
  std::string prompt;                ///< non-empty, not only whitespace, valid UTF-8, no NUL
  std::optional<std::string> model;  ///< pinned model, or nullopt for any model
  int priority = 0;
};

/// A rejected line: its 1-based number and why.
struct LineError {
  std::size_t line = 0;
  std::string message;
};

/// Parses one line. Fails on anything but an object with a string "prompt", an optional
/// "model" (string or null, a valid model name) and an optional integer "priority" (int32);
/// unknown keys are rejected so that typos are not silently dropped.
util::Result<TaskInput> parse_line(std::string_view line);

/// Everything read from a stream: the good tasks, and the bad lines. Blank lines are skipped.
struct Parsed {
  std::vector<TaskInput> tasks;
  std::vector<LineError> errors;
  std::size_t lines = 0;
};

/// Reads the whole stream. Never throws on content; all problems land in `errors`.
Parsed parse_stream(std::istream& in);

}  // namespace llmlb::enqueue
