#include "llmlb/status/watch.hpp"

#include <poll.h>

#include <cerrno>
#include <iostream>

#include "llmlb/util/signals.hpp"

namespace llmlb::status {

int watch(const std::function<std::string()>& frame, std::chrono::milliseconds interval) {
  util::SignalPipe signals;
  for (;;) {
    const std::string text = frame();
    std::cout << kClearScreen << text << std::flush;
    // Wait for the next refresh or a signal; a signal that arrived while frame() ran is already
    // in the pipe, so poll returns at once.
    const auto deadline = std::chrono::steady_clock::now() + interval;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        break;
      }
      pollfd p{signals.fd(), POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r > 0) {
        int last = 0;
        signals.take(last);
        return 0;
      }
      if (r < 0 && errno != EINTR) {
        break;
      }
    }
  }
}

}  // namespace llmlb::status
