// `llmlb status --watch`: redraw a frame in place until the operator stops it.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace llmlb::status {

/// The ANSI sequence written before every frame: cursor home, then clear the screen.
inline constexpr const char* kClearScreen = "\x1b[H\x1b[2J";

/// Writes kClearScreen + frame() to stdout every `interval` until SIGINT or SIGTERM arrives, then
/// returns 0 (the signal is the normal way to stop). `frame` must not throw for transient
/// problems; whatever it throws ends the loop and propagates. Installs a util::SignalPipe for
/// its duration (so it throws RuntimeError if one is already installed).
int watch(const std::function<std::string()>& frame, std::chrono::milliseconds interval);

}  // namespace llmlb::status
