#include "llmlb/util/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>

#include "llmlb/error.hpp"

namespace llmlb::util {
namespace {

std::atomic<int> g_write_fd{-1};
struct sigaction g_old_term {};
struct sigaction g_old_int {};

extern "C" void on_signal(int signo) {
  const int saved = errno;
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] auto n = ::write(fd, &byte, 1);
  }
  errno = saved;
}

}  // namespace

SignalPipe::SignalPipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw RuntimeError("cannot create the signal pipe");
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, write_fd_)) {
    ::close(read_fd_);
    ::close(write_fd_);
    throw RuntimeError("a signal pipe is already installed");
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, &g_old_term);
  ::sigaction(SIGINT, &sa, &g_old_int);
}

SignalPipe::~SignalPipe() {
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  ::sigaction(SIGINT, &g_old_int, nullptr);
  g_write_fd.store(-1);
  ::close(read_fd_);
  ::close(write_fd_);
}

int SignalPipe::take(int& last) {
  int count = 0;
  unsigned char buf[64];
  for (;;) {
    const auto n = ::read(read_fd_, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    count += static_cast<int>(n);
    last = buf[n - 1];
  }
  return count;
}

}  // namespace llmlb::util
