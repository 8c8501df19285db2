#include "llmlb/http/client.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "llmlb/error.hpp"
#include "support/loopback_server.hpp"

using llmlb::http::Client;
using llmlb::http::ClientOptions;
using llmlb::http::Request;
using llmlb::http::Response;
using llmlb::test::LoopbackServer;
using llmlb::test::ReceivedRequest;
using llmlb::test::Reply;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

Request post(const std::string& url, std::uint64_t tag, std::string body = "{}",
             std::chrono::milliseconds timeout = 5000ms) {
  Request request;
  request.tag = tag;
  request.url = url;
  request.body = std::move(body);
  request.timeout = timeout;
  return request;
}

// Waits until `count` responses arrived or `limit` passed; returns what arrived.
std::vector<Response> collect(Client& client, std::size_t count,
                              std::chrono::milliseconds limit = 10000ms) {
  std::vector<Response> all;
  const auto deadline = Clock::now() + limit;
  while (all.size() < count && Clock::now() < deadline) {
    for (auto& r : client.wait(100ms)) {
      all.push_back(std::move(r));
    }
  }
  return all;
}

Response one(Client& client, Request request) {
  client.submit(std::move(request));
  auto all = collect(client, 1);
  REQUIRE(all.size() == 1);
  return std::move(all.front());
}

Reply respond(int status, std::string body, std::vector<std::string> headers = {}) {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = std::move(headers);
  return reply;
}

// A port on 127.0.0.1 where nothing listens (bound once, then released).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t length = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// A TCP listener on 127.0.0.1 with the given backlog, on a free port written to `addr`.
int listen_on_loopback(int backlog, sockaddr_in& addr) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t length = sizeof addr;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, backlog) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  return listener;
}

std::string http_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

}  // namespace

TEST_CASE("http client: POST body, headers and status arrive exactly") {
  LoopbackServer server([](const ReceivedRequest&) { return respond(201, "created \x01\xff"); });
  ClientOptions options;
  options.headers = {"Authorization: Bearer sekrit-token-1234", "X-Extra: yes"};
  Client client(options);

  std::string body;
  for (int i = 0; i < 1024 * 1024; ++i) {
    body.push_back(static_cast<char>(i * 7 % 256));
  }
  const Response r = one(client, post(server.url("/single?x=1"), 42, body));
  CHECK(r.tag == 42);
  CHECK(r.transport_ok);
  CHECK(r.transport_error.empty());
  CHECK(r.status == 201);
  CHECK(r.body == "created \x01\xff");
  CHECK_FALSE(r.retry_after_s.has_value());
  CHECK(r.elapsed.count() > 0);

  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const ReceivedRequest& got = requests.front();
  CHECK(got.method == "POST");
  CHECK(got.target == "/single?x=1");
  CHECK(got.body == body);
  REQUIRE(got.header("content-type") != nullptr);
  CHECK(*got.header("content-type") == "application/json");
  REQUIRE(got.header("authorization") != nullptr);
  CHECK(*got.header("authorization") == "Bearer sekrit-token-1234");
  REQUIRE(got.header("x-extra") != nullptr);
  CHECK(got.header("expect") == nullptr);  // no "Expect: 100-continue" round trip
  CHECK(client.in_flight() == 0);
}

TEST_CASE("http client: an empty body is a POST with Content-Length 0") {
  LoopbackServer server([](const ReceivedRequest&) { return respond(200, ""); });
  Client client(ClientOptions{});
  const Response r = one(client, post(server.url("/e"), 1, ""));
  CHECK(r.transport_ok);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  REQUIRE(requests[0].header("content-length") != nullptr);
  CHECK(*requests[0].header("content-length") == "0");
}

TEST_CASE("http client: sequential requests reuse one kept-alive connection") {
  LoopbackServer server([](const ReceivedRequest& q) { return respond(200, q.body); });
  Client client(ClientOptions{});
  for (int i = 0; i < 25; ++i) {
    const Response r = one(client, post(server.url("/single"), static_cast<std::uint64_t>(i),
                                        "{\"n\":" + std::to_string(i) + "}"));
    REQUIRE(r.transport_ok);
    CHECK(r.body == "{\"n\":" + std::to_string(i) + "}");
  }
  CHECK(server.request_count() == 25);
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("http client: many requests are in flight at once") {
  constexpr std::size_t kCount = 150;
  LoopbackServer server([](const ReceivedRequest& q) {
    Reply reply = respond(200, q.body);
    reply.delay = 400ms;
    return reply;
  });
  Client client(ClientOptions{});
  const auto start = Clock::now();
  for (std::size_t i = 0; i < kCount; ++i) {
    client.submit(post(server.url("/single"), i, std::to_string(i)));
  }
  CHECK(client.in_flight() == kCount);
  const auto all = collect(client, kCount);
  const auto took = Clock::now() - start;
  REQUIRE(all.size() == kCount);
  std::set<std::uint64_t> tags;
  for (const Response& r : all) {
    CHECK(r.transport_ok);
    CHECK(r.body == std::to_string(r.tag));
    tags.insert(r.tag);
  }
  CHECK(tags.size() == kCount);
  // One after another this would take 60 s; concurrently, about one delay.
  CHECK(took < 5s);
  CHECK(server.connections_accepted() == kCount);
  CHECK(client.in_flight() == 0);

  // The connections were kept: a second wave opens none.
  for (std::size_t i = 0; i < kCount; ++i) {
    client.submit(post(server.url("/single"), i, std::to_string(i)));
  }
  CHECK(collect(client, kCount).size() == kCount);
  CHECK(server.connections_accepted() == kCount);
}

TEST_CASE("http client: max_connections limits connections per host") {
  LoopbackServer server([](const ReceivedRequest& q) {
    Reply reply = respond(200, q.body);
    reply.delay = 50ms;
    return reply;
  });
  ClientOptions options;
  options.max_connections = 2;
  Client client(options);
  for (std::uint64_t i = 0; i < 8; ++i) {
    client.submit(post(server.url("/single"), i));
  }
  const auto all = collect(client, 8);
  CHECK(all.size() == 8);
  for (const Response& r : all) {
    CHECK(r.transport_ok);
  }
  CHECK(server.connections_accepted() == 2);
}

TEST_CASE("http client: whole-transfer timeout") {
  LoopbackServer server([](const ReceivedRequest&) {
    Reply reply;
    reply.action = Reply::Action::hold;
    return reply;
  });
  Client client(ClientOptions{});
  const auto start = Clock::now();
  const Response r = one(client, post(server.url("/single"), 7, "{}", 300ms));
  CHECK(Clock::now() - start >= 250ms);  // libcurl may fire a millisecond early
  CHECK(Clock::now() - start < 3s);
  CHECK(r.tag == 7);
  CHECK_FALSE(r.transport_ok);
  CHECK(r.timed_out);
  CHECK_FALSE(r.connect_failed);
  CHECK(r.status == 0);
  CHECK(r.transport_error == "timed out after 300 ms");
}

TEST_CASE("http client: connect timeout") {
  // A listener that never accepts, with its backlog filled: further SYNs go unanswered.
  sockaddr_in addr{};
  const int listener = listen_on_loopback(0, addr);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);

  ClientOptions options;
  options.connect_timeout = 300ms;
  Client client(options);
  const auto url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/single";
  const Response r = one(client, post(url, 1, "{}", 5000ms));
  CHECK_FALSE(r.transport_ok);
  CHECK(r.timed_out);
  CHECK(r.connect_failed);
  CHECK(r.transport_error == "connect timed out after 300 ms");
  CHECK(r.elapsed < 3s);
  for (int fd : fillers) {
    ::close(fd);
  }
  ::close(listener);
}

TEST_CASE("http client: a dropped or reset connection is a transport error") {
  SUBCASE("closed without a response") {
    LoopbackServer server([](const ReceivedRequest&) {
      Reply reply;
      reply.action = Reply::Action::close;
      return reply;
    });
    Client client(ClientOptions{});
    const Response r = one(client, post(server.url("/single"), 1));
    CHECK_FALSE(r.transport_ok);
    CHECK_FALSE(r.timed_out);
    CHECK_FALSE(r.connect_failed);
    CHECK(r.status == 0);
    CHECK(r.transport_error == "server closed the connection without responding");
  }
  SUBCASE("reset") {
    LoopbackServer server([](const ReceivedRequest&) {
      Reply reply;
      reply.action = Reply::Action::reset;
      return reply;
    });
    Client client(ClientOptions{});
    const Response r = one(client, post(server.url("/single"), 1));
    CHECK_FALSE(r.transport_ok);
    CHECK_FALSE(r.connect_failed);
    CHECK(r.transport_error == "connection reset by peer");
  }
  SUBCASE("body cut short") {
    LoopbackServer server([](const ReceivedRequest&) {
      Reply reply = respond(200, "");
      reply.headers = {"Content-Length: 100"};
      reply.close_delimited = true;  // sends "Connection: close", closes after 0 of 100 bytes
      return reply;
    });
    Client client(ClientOptions{});
    const Response r = one(client, post(server.url("/single"), 1));
    CHECK_FALSE(r.transport_ok);
    CHECK(r.body.empty());
    CHECK(r.transport_error == "connection closed before the response was complete");
  }
}

TEST_CASE("http client: a request whose kept-alive connection dies unanswered is never re-sent") {
  // The server answers the first request on each connection and resets the connection after
  // reading the second one. libcurl would re-send such a request on a new connection (a reused
  // connection that brought no bytes back); the client must refuse, so the server sees each
  // request exactly once.
  LoopbackServer server(llmlb::test::reset_second_request(respond(200, R"({"answer":"a"})")));
  Client client(ClientOptions{});
  const Response first = one(client, post(server.url("/single"), 1, R"({"n":1})"));
  REQUIRE(first.transport_ok);
  CHECK(first.status == 200);
  CHECK_FALSE(first.reset_after_send);
  const Response second = one(client, post(server.url("/single"), 2, R"({"n":2})"));
  CHECK_FALSE(second.transport_ok);
  CHECK(second.reset_after_send);
  CHECK_FALSE(second.connect_failed);
  CHECK(second.transport_error == "connection lost after the request was sent; not re-sent");
  std::this_thread::sleep_for(100ms);  // a re-sent request would have arrived by now
  const auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].body == R"({"n":1})");
  CHECK(requests[1].body == R"({"n":2})");
  CHECK(requests[0].connection == requests[1].connection);
  // The next request opens a new connection and is answered.
  const Response third = one(client, post(server.url("/single"), 3, R"({"n":3})"));
  CHECK(third.transport_ok);
  CHECK(server.request_count() == 3);
}

TEST_CASE("http client: one request per submit while connections keep dying") {
  LoopbackServer server(llmlb::test::reset_second_request(respond(200, R"({"answer":"a"})")));
  Client client(ClientOptions{});
  constexpr int kRequests = 40;
  int ok = 0, reset = 0;
  for (int i = 0; i < kRequests; ++i) {  // sequential: every second one rides a reused connection
    const Response r = one(client, post(server.url("/single"), static_cast<std::uint64_t>(i),
                                        std::string(i % 3 == 0 ? 40000 : 10, 'x')));
    (r.transport_ok ? ok : reset) += 1;
  }
  std::this_thread::sleep_for(100ms);
  CHECK(server.request_count() == static_cast<std::size_t>(kRequests));
  CHECK(ok == kRequests / 2);
  CHECK(reset == kRequests / 2);
}

TEST_CASE("http client: connection refused and bad URLs complete as transport errors") {
  Client client(ClientOptions{});
  const auto port = closed_port();
  const Response refused =
      one(client, post("http://127.0.0.1:" + std::to_string(port) + "/single", 3));
  CHECK_FALSE(refused.transport_ok);
  CHECK(refused.connect_failed);
  CHECK_FALSE(refused.timed_out);
  CHECK(refused.transport_error == "connection refused");

  const Response bad = one(client, post("http://user:pw@[::1/x", 4));
  CHECK_FALSE(bad.transport_ok);
  CHECK(bad.transport_error.rfind("invalid URL: ", 0) == 0);
  CHECK(bad.transport_error.find("pw") == std::string::npos);

  const Response ftp = one(client, post("ftp://127.0.0.1/x", 5));
  CHECK_FALSE(ftp.transport_ok);
  CHECK(ftp.transport_error.rfind("invalid URL: ", 0) == 0);
}

TEST_CASE("http client: a failed TLS handshake is a connect failure (nothing was sent)") {
  // A plain TCP server that answers the ClientHello with plain text and closes.
  sockaddr_in addr{};
  const int listener = listen_on_loopback(4, addr);
  std::thread server([listener] {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd >= 0) {
      const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      [[maybe_unused]] auto n = ::write(fd, reply.data(), reply.size());
      ::close(fd);
    }
  });
  Client client(ClientOptions{});
  const Response r =
      one(client, post("https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/single", 6));
  server.join();
  ::close(listener);
  CHECK_FALSE(r.transport_ok);
  CHECK(r.connect_failed);
  CHECK(r.transport_error.rfind("TLS handshake failed", 0) == 0);
}

TEST_CASE("http client: Retry-After in seconds and as an HTTP date") {
  const std::string date = http_date(std::time(nullptr) + 120);
  LoopbackServer server([date](const ReceivedRequest& q) {
    if (q.target == "/secs") {
      return respond(429, "slow down", {"Retry-After: 17"});
    }
    if (q.target == "/date") {
      return respond(503, "busy", {"retry-after: " + date});
    }
    if (q.target == "/past") {
      return respond(503, "busy", {"Retry-After: Thu, 01 Jan 2015 00:00:00 GMT"});
    }
    return respond(503, "busy", {"Retry-After: whenever"});
  });
  Client client(ClientOptions{});
  const Response secs = one(client, post(server.url("/secs"), 1));
  CHECK(secs.status == 429);
  CHECK(secs.body == "slow down");
  REQUIRE(secs.retry_after_s.has_value());
  CHECK(*secs.retry_after_s == doctest::Approx(17));

  const Response dated = one(client, post(server.url("/date"), 2));
  CHECK(dated.status == 503);
  REQUIRE(dated.retry_after_s.has_value());
  CHECK(*dated.retry_after_s > 110);
  CHECK(*dated.retry_after_s <= 120);

  const Response past = one(client, post(server.url("/past"), 3));
  REQUIRE(past.retry_after_s.has_value());
  CHECK(*past.retry_after_s == 0);

  const Response junk = one(client, post(server.url("/junk"), 4));
  CHECK(junk.status == 503);
  CHECK_FALSE(junk.retry_after_s.has_value());
}

TEST_CASE("http client: parse_retry_after") {
  using llmlb::http::parse_retry_after;
  const std::time_t now = 1445412450;  // Wed, 21 Oct 2015 07:27:30 GMT
  CHECK(parse_retry_after("120", now) == 120.0);
  CHECK(parse_retry_after("  5\r\n", now) == 5.0);
  CHECK(parse_retry_after("0", now) == 0.0);
  CHECK(parse_retry_after("99999999999999999999999", now) == 1e9);
  CHECK(parse_retry_after(" Wed, 21 Oct 2015 07:28:00 GMT\r\n", now) == 30.0);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0);
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK_FALSE(parse_retry_after("  \r\n", now).has_value());
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after(std::string(200, '7') + "x", now).has_value());
}

TEST_CASE("http client: responses above the cap are too_large") {
  LoopbackServer server([](const ReceivedRequest& q) {
    Reply reply = respond(200, std::string(q.target == "/small" ? 1000 : 300000, 'a'));
    reply.close_delimited = q.target == "/stream";
    return reply;
  });
  ClientOptions options;
  options.max_response_bytes = 1000;
  Client client(options);

  const Response fits = one(client, post(server.url("/small"), 1));
  CHECK(fits.transport_ok);
  CHECK(fits.body.size() == 1000);

  // Content-Length announces too much: rejected before the body is read.
  const Response announced = one(client, post(server.url("/big"), 2));
  CHECK_FALSE(announced.transport_ok);
  CHECK(announced.too_large);
  CHECK(announced.body.empty());
  CHECK(announced.transport_error == "response larger than 1000 bytes");

  // No Content-Length: the write callback stops at the cap.
  const Response streamed = one(client, post(server.url("/stream"), 3));
  CHECK_FALSE(streamed.transport_ok);
  CHECK(streamed.too_large);
  CHECK(streamed.transport_error == "response larger than 1000 bytes");
}

TEST_CASE("http client: wait() honours its timeout and wake_fd") {
  Client client(ClientOptions{});
  auto start = Clock::now();
  CHECK(client.wait(200ms).empty());
  CHECK(Clock::now() - start >= 200ms);

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  LoopbackServer server([](const ReceivedRequest&) {
    Reply reply;
    reply.action = Reply::Action::hold;
    return reply;
  });
  client.submit(post(server.url("/single"), 9, "{}", 30000ms));
  std::thread waker([&] {
    std::this_thread::sleep_for(200ms);
    const char byte = 1;
    (void)!::write(fds[1], &byte, 1);
  });
  start = Clock::now();
  const auto woke = client.wait(20000ms, fds[0]);
  const auto took = Clock::now() - start;
  waker.join();
  CHECK(woke.empty());
  CHECK(took >= 150ms);
  CHECK(took < 5s);
  CHECK(client.in_flight() == 1);

  // Still readable (never drained): wait returns at once.
  start = Clock::now();
  CHECK(client.wait(20000ms, fds[0]).empty());
  CHECK(Clock::now() - start < 1s);
  ::close(fds[0]);
  ::close(fds[1]);

  const auto cancelled = client.cancel_all();
  REQUIRE(cancelled.size() == 1);
  CHECK(cancelled[0].tag == 9);
}

TEST_CASE("http client: cancel_all aborts everything in flight") {
  LoopbackServer server([](const ReceivedRequest& q) {
    if (q.target == "/fast") {
      return respond(200, "done");
    }
    Reply reply;
    reply.action = Reply::Action::hold;
    return reply;
  });
  Client client(ClientOptions{});
  for (std::uint64_t i = 0; i < 20; ++i) {
    client.submit(post(server.url("/hold"), i, "{}", 30000ms));
  }
  // Let the requests reach the server.
  const auto deadline = Clock::now() + 5s;
  while (server.request_count() < 20 && Clock::now() < deadline) {
    CHECK(client.wait(20ms).empty());
  }
  REQUIRE(server.request_count() == 20);
  const auto start = Clock::now();
  const auto cancelled = client.cancel_all();
  CHECK(Clock::now() - start < 1s);
  REQUIRE(cancelled.size() == 20);
  std::set<std::uint64_t> tags;
  for (const Response& r : cancelled) {
    CHECK_FALSE(r.transport_ok);
    CHECK(r.cancelled);
    CHECK(r.transport_error == "cancelled");
    CHECK(r.status == 0);
    tags.insert(r.tag);
  }
  CHECK(tags.size() == 20);
  CHECK(client.in_flight() == 0);
  CHECK(client.cancel_all().empty());

  // The client keeps working afterwards.
  const Response r = one(client, post(server.url("/fast"), 99));
  CHECK(r.transport_ok);
  CHECK(r.body == "done");
}

TEST_CASE("http client: a header line with a line break is rejected") {
  ClientOptions options;
  options.headers = {"X-Evil: a\r\nHost: elsewhere"};
  CHECK_THROWS_AS(Client{options}, llmlb::UsageError);
}

TEST_CASE("http client: destroying a client with transfers in flight is clean") {
  LoopbackServer server([](const ReceivedRequest&) {
    Reply reply;
    reply.action = Reply::Action::hold;
    return reply;
  });
  {
    Client client(ClientOptions{});
    for (std::uint64_t i = 0; i < 5; ++i) {
      client.submit(post(server.url("/hold"), i, "{}", 30000ms));
    }
    client.wait(50ms);
    Client moved(std::move(client));
    CHECK(moved.in_flight() == 5);
    CHECK(client.in_flight() == 0);  // NOLINT(bugprone-use-after-move): documented as 0
  }
  CHECK(server.connections_accepted() >= 1);
}
