// SIGTERM/SIGINT delivered as bytes on a pipe, so the event loop can wait on them together with
// its sockets (curl_multi_poll's extra fds) and never does real work in a signal handler.
#pragma once

namespace llmlb::util {

/// Installs handlers for SIGTERM and SIGINT for its lifetime; restores the old ones when
/// destroyed. Only one may exist at a time (throws RuntimeError otherwise, or if pipe() fails).
class SignalPipe {
 public:
  SignalPipe();
  ~SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  /// The read end: readable when a signal arrived.
  int fd() const noexcept { return read_fd_; }

  /// Reads every pending byte; returns how many signals arrived since the last call, and the
  /// number of the last one in `last` (unchanged when none).
  int take(int& last);

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace llmlb::util
