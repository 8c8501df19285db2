// A tiny HTTP/1.1 server on 127.0.0.1 for tests: one background thread, poll(), keep-alive,
// Content-Length bodies. A handler decides each reply: respond (now or after a delay), hold
// forever, close the connection, or reset it. Every received request is recorded.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace llmlb::test {

/// One request as the server read it.
struct ReceivedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names in lower case
  std::string body;
  std::size_t connection = 0;  ///< 1-based number of the connection it arrived on

  /// The value of header `name` (lower case), or nullptr if absent.
  const std::string* header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) {
        return &value;
      }
    }
    return nullptr;
  }
};

/// What the server does with one request.
struct Reply {
  enum class Action {
    respond,  ///< send the response (after `delay`)
    hold,     ///< never answer; the connection stays open
    close,    ///< close the connection without answering
    reset,    ///< reset the connection (RST) without answering
  };
  Action action = Action::respond;
  int status = 200;
  std::string body;
  std::vector<std::string> headers;  ///< extra header lines, without CRLF
  std::chrono::milliseconds delay{0};
  /// Send no Content-Length: the body ends when the server closes the connection.
  bool close_delimited = false;
};

/// A handler that answers the first request on each connection with `first` and resets the
/// connection (RST) on the second, after reading it: what a kept-alive connection that dies
/// between a request and its response looks like to the client.
inline std::function<Reply(const ReceivedRequest&)> reset_second_request(Reply first) {
  auto seen = std::make_shared<std::vector<std::size_t>>();  // per connection id: requests read
  return [seen, first](const ReceivedRequest& request) {
    if (seen->size() <= request.connection) {
      seen->resize(request.connection + 1, 0);
    }
    if (++(*seen)[request.connection] >= 2) {
      Reply reply;
      reply.action = Reply::Action::reset;
      return reply;
    }
    return first;
  };
}

/// The server. Starts listening and serving in the constructor; stops in the destructor.
class LoopbackServer {
 public:
  using Handler = std::function<Reply(const ReceivedRequest&)>;

  /// Listens on 127.0.0.1 at a free port. `handler` runs on the server thread.
  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) {
      throw std::runtime_error("socket failed");
    }
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    socklen_t length = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 4096) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length) != 0 ||
        ::pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
      ::close(listener_);
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~LoopbackServer() {
    const char byte = 0;
    (void)!::write(wake_[1], &byte, 1);
    thread_.join();
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const { return port_; }
  /// "http://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  /// Connections accepted so far.
  std::size_t connections_accepted() const { return accepted_.load(); }
  /// A copy of every request received so far, in arrival order.
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t request_count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }

 private:
  using Clock = std::chrono::steady_clock;

  struct Connection {
    int fd = -1;
    std::size_t id = 0;
    std::string in;
    std::string out;
    bool dead = false;
    bool waiting = false;  // a reply is pending (delayed or held)
    bool held = false;
    bool close_after_write = false;
    Clock::time_point due;
    Reply pending;
  };

  static std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return out;
  }

  static std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
      text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
      text.remove_suffix(1);
    }
    return text;
  }

  // Takes one complete request off the front of `in`, or returns false.
  static bool take_request(std::string& in, ReceivedRequest& request) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) {
      return false;
    }
    const std::string_view head(in.data(), end);
    std::size_t content_length = 0;
    std::size_t line_start = 0;
    bool first = true;
    while (line_start <= head.size()) {
      auto line_end = head.find("\r\n", line_start);
      if (line_end == std::string_view::npos) {
        line_end = head.size();
      }
      const std::string_view line = head.substr(line_start, line_end - line_start);
      if (first) {
        const auto sp1 = line.find(' ');
        const auto sp2 = line.find(' ', sp1 + 1);
        request.method = std::string(line.substr(0, sp1));
        request.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        first = false;
      } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        std::string name = lower(line.substr(0, colon));
        std::string value(trim(line.substr(colon + 1)));
        if (name == "content-length") {
          content_length = std::stoul(value);
        }
        request.headers.emplace_back(std::move(name), std::move(value));
      }
      line_start = line_end + 2;
    }
    const std::size_t total = end + 4 + content_length;
    if (in.size() < total) {
      request = ReceivedRequest{};
      return false;
    }
    request.body = in.substr(end + 4, content_length);
    in.erase(0, total);
    return true;
  }

  static const char* reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 429:
        return "Too Many Requests";
      case 503:
        return "Service Unavailable";
      default:
        return "Status";
    }
  }

  static void write_reply(Connection& c, const Reply& reply) {
    std::string& out = c.out;
    out += "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
    if (reply.close_delimited) {
      out += "Connection: close\r\n";
      c.close_after_write = true;
    } else {
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    }
    for (const auto& line : reply.headers) {
      out += line + "\r\n";
    }
    out += "\r\n";
    out += reply.body;
  }

  static void flush(Connection& c) {
    while (!c.out.empty() && !c.dead) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        c.dead = true;
      }
    }
    if (c.out.empty() && c.close_after_write) {
      c.dead = true;
    }
  }

  void apply(Connection& c, Reply reply, Clock::time_point now) {
    switch (reply.action) {
      case Reply::Action::close:
        c.dead = true;
        return;
      case Reply::Action::reset: {
        linger hard{};
        hard.l_onoff = 1;
        hard.l_linger = 0;
        ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        c.dead = true;
        return;
      }
      case Reply::Action::hold:
        c.waiting = true;
        c.held = true;
        return;
      case Reply::Action::respond:
        if (reply.delay.count() > 0) {
          c.waiting = true;
          c.due = now + reply.delay;
          c.pending = std::move(reply);
        } else {
          write_reply(c, reply);
        }
        return;
    }
  }

  void serve(Connection& c, Clock::time_point now) {
    ReceivedRequest request;
    while (!c.dead && !c.waiting && take_request(c.in, request)) {
      request.connection = c.id;
      Reply reply = handler_(request);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(request));
      }
      request = ReceivedRequest{};
      apply(c, std::move(reply), now);
    }
  }

  void run() {
    std::vector<std::unique_ptr<Connection>> connections;
    std::vector<pollfd> fds;
    for (;;) {
      auto now = Clock::now();
      int timeout_ms = -1;
      fds.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      fds.push_back({listener_, POLLIN, 0});
      for (const auto& c : connections) {
        fds.push_back({c->fd, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
        if (c->waiting && !c->held) {
          const auto left = std::chrono::ceil<std::chrono::milliseconds>(c->due - now).count();
          const int ms = left < 0 ? 0 : static_cast<int>(left);
          timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
        }
      }
      ::poll(fds.data(), fds.size(), timeout_ms);
      if (fds[0].revents != 0) {
        break;
      }
      now = Clock::now();
      for (std::size_t i = 0; i < connections.size(); ++i) {
        Connection& c = *connections[i];
        const short revents = fds[i + 2].revents;
        if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
          char buffer[65536];
          for (;;) {
            const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
            if (n > 0) {
              c.in.append(buffer, static_cast<std::size_t>(n));
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
              break;
            } else {
              c.dead = true;
              break;
            }
          }
        }
        if (c.waiting && !c.held && c.due <= now) {
          c.waiting = false;
          write_reply(c, c.pending);
        }
        serve(c, now);
        flush(c);
      }
      if (fds[1].revents != 0) {
        for (;;) {
          const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            break;
          }
          auto c = std::make_unique<Connection>();
          c->fd = fd;
          c->id = ++accepted_;
          connections.push_back(std::move(c));
        }
      }
      std::erase_if(connections, [](const std::unique_ptr<Connection>& c) {
        if (c->dead) {
          ::close(c->fd);
        }
        return c->dead;
      });
    }
    for (const auto& c : connections) {
      ::close(c->fd);
    }
  }

  Handler handler_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

}  // namespace llmlb::test
