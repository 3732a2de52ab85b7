// Copyright Switchboard authors.
//
// TcpServer and TcpConnection through real loopback sockets: many
// concurrent connections, backpressure from a peer that never reads, idle
// timeout (on a manual clock), the connection limit, half-close.

#include "reactor/tcp_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "reactor/event_loop_pool.h"
#include "reactor/socket.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/loop_thread.h"

namespace switchboard {
namespace {

using testing::FakeClock;
using testing::LoopThread;

// A clock the test moves by hand.

// Echoes what arrives and remembers the largest output buffer it saw.
class EchoHandler final : public ConnectionHandler {
 public:
  explicit EchoHandler(std::atomic<size_t>* max_output) : max_output_(max_output) {}
  void OnData(TcpConnection& c, Buffer& input) override {
    c.output()->Append(input.view());
    input.Clear();
    c.Flush();
    size_t seen = c.output()->readable_bytes();
    size_t old = max_output_->load();
    while (seen > old && !max_output_->compare_exchange_weak(old, seen)) {
    }
  }
  void OnEndOfInput(TcpConnection& c, Buffer& input) override {
    c.output()->Append(input.view());
    input.Clear();
    c.Flush();
    c.EndSession();
  }
  void OnClose(TcpConnection&) override {}

 private:
  std::atomic<size_t>* max_output_;
};

// Echoes whole lines only: a line's start waits in the input until its end
// arrives.
class LineEchoHandler final : public ConnectionHandler {
 public:
  void OnData(TcpConnection& c, Buffer& input) override {
    for (size_t end; (end = input.view().find('\n')) != absl::string_view::npos;) {
      c.output()->Append(input.view().substr(0, end + 1));
      input.Consume(end + 1);
    }
    c.Flush();
  }
  void OnEndOfInput(TcpConnection& c, Buffer& input) override {
    input.Clear();
    c.EndSession();
  }
  void OnClose(TcpConnection&) override {}
};

// An echo server on its own accept thread with `io_threads` I/O loops.
class EchoServer {
 public:
  EchoServer(int io_threads, int max_connections, TcpConnectionOptions options,
             PollerKind kind = DefaultPollerKind(), Clock* clock = SteadyClock(),
             bool whole_lines = false)
      : accept_(kind, clock), io_(io_threads, kind, clock), limit_(max_connections) {
    CHECK(io_.Start().ok());
    accept_.RunSync([&] {
      auto listener = Socket::Listen(*InetAddress::Parse("127.0.0.1", 0));
      CHECK(listener.ok()) << listener.status();
      TcpServerOptions server_options;
      server_options.name = "test-echo";
      server_options.connection = options;
      server_ = std::make_unique<TcpServer>(accept_.loop(), &io_, *std::move(listener), &limit_,
                                            server_options);
      server_->set_connection_callback([this, whole_lines](TcpConnection& c) {
        if (whole_lines) {
          c.set_handler(std::make_shared<LineEchoHandler>());
        } else {
          c.set_handler(std::make_shared<EchoHandler>(&max_output_));
        }
      });
      server_->Start();
    });
  }
  ~EchoServer() {
    accept_.RunSync([&] {
      server_->StopAccepting();
      server_->CloseAll("test over");
      server_.reset();
    });
    io_.Stop();
  }

  InetAddress address() const { return server_->local_address(); }
  int connections() const { return server_->connection_count(); }
  size_t max_output() const { return max_output_.load(); }
  EventLoopPool& io() { return io_; }

  // Waits (bounded) until the server holds `n` connections, and until the
  // I/O loops have set them up (the count goes up at accept time, before
  // the connection object exists on its loop).
  bool WaitForConnections(int n) {
    for (int i = 0; i < 1000 && connections() != n; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    accept_.RunSync([] {});
    for (size_t i = 0; i < io_.size(); ++i) {
      absl::Notification done;
      io_.loop(i)->QueueInLoop([&] { done.Notify(); });
      done.WaitForNotification();
    }
    return connections() == n;
  }

 private:
  LoopThread accept_;
  EventLoopPool io_;
  ConnectionLimit limit_;
  std::unique_ptr<TcpServer> server_;
  std::atomic<size_t> max_output_{0};
};

Socket Connect(const InetAddress& address) {
  auto socket = Socket::Connect(address);
  CHECK(socket.ok()) << socket.status();
  CHECK(socket->SetReceiveTimeout(absl::Seconds(10)).ok());
  return *std::move(socket);
}

std::string Receive(Socket& socket, size_t n) {
  std::string data(n, '\0');
  absl::Status s = socket.ReceiveExactly(data.data(), n);
  EXPECT_TRUE(s.ok()) << s;
  return data;
}

// True when the peer closed: recv returns 0 (or a reset) before the timeout.
bool ReadsEndOfStream(Socket& socket) {
  char byte;
  absl::StatusOr<size_t> n = socket.ReceiveSome(&byte, 1);
  return (n.ok() && *n == 0) || (!n.ok() && absl::StrContains(n.status().message(), "reset"));
}

class TcpServerPerPollerTest : public ::testing::TestWithParam<PollerKind> {};

TEST_P(TcpServerPerPollerTest, EchoesManyConnectionsWithDistinctPayloads) {
  EchoServer server(2, 10000, TcpConnectionOptions{}, GetParam());
  constexpr int kConnections = 200;
  std::vector<Socket> clients;
  std::vector<std::string> payloads;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(Connect(server.address()));
    std::string payload;
    for (int r = 0; r < 20; ++r) absl::StrAppend(&payload, "conn-", i, "-", r, ";");
    payloads.push_back(payload);
  }
  for (int i = 0; i < kConnections; ++i) ASSERT_TRUE(clients[i].SendAll(payloads[i]).ok());
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(Receive(clients[i], payloads[i].size()), payloads[i]) << "connection " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pollers, TcpServerPerPollerTest, ::testing::ValuesIn([] {
      std::vector<PollerKind> kinds;
      for (PollerKind k : {PollerKind::kEpoll, PollerKind::kPoll, PollerKind::kKqueue}) {
        if (PollerAvailable(k)) kinds.push_back(k);
      }
      return kinds;
    }()),
    [](const auto& info) { return std::string(PollerKindName(info.param)); });

// Connections on one loop read through one shared buffer while they hold
// no partial message; the start of a message must stay with its own
// connection, however their reads interleave.
TEST(TcpServerTest, PartialMessagesOfConnectionsOnOneLoopStayApart) {
  EchoServer server(1, 10, TcpConnectionOptions{}, DefaultPollerKind(), SteadyClock(),
                    /*whole_lines=*/true);
  Socket a = Connect(server.address());
  Socket b = Connect(server.address());
  ASSERT_TRUE(server.WaitForConnections(2));
  // Each step waits for the server's loop to have read it.
  auto send = [&](Socket& socket, absl::string_view data) {
    ASSERT_TRUE(socket.SendAll(data).ok());
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(server.WaitForConnections(2));
  };
  send(a, "alpha-");
  send(b, "bravo-");
  send(a, "one\nalpha-");  // a whole line and the start of the next
  EXPECT_EQ(Receive(a, 10), "alpha-one\n");
  send(b, "two\n");
  EXPECT_EQ(Receive(b, 10), "bravo-two\n");
  send(a, "three\n");
  EXPECT_EQ(Receive(a, 12), "alpha-three\n");
  // A message in three pieces, the middle one alone in its read.
  send(b, "x");
  send(b, "y");
  send(b, "z\n");
  EXPECT_EQ(Receive(b, 4), "xyz\n");
}

TEST(TcpServerTest, ThousandConcurrentConnections) {
  EchoServer server(2, 10000, TcpConnectionOptions{});
  constexpr int kConnections = 1000;
  std::vector<Socket> clients;
  clients.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) clients.push_back(Connect(server.address()));
  ASSERT_TRUE(server.WaitForConnections(kConnections));
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(clients[i].SendAll(absl::StrCat("payload of connection ", i, "\n")).ok());
  }
  for (int i = 0; i < kConnections; ++i) {
    const std::string want = absl::StrCat("payload of connection ", i, "\n");
    ASSERT_EQ(Receive(clients[i], want.size()), want);
  }
  clients.clear();
  EXPECT_TRUE(server.WaitForConnections(0));
}

TEST(TcpServerTest, PeerThatNeverReadsStaysBoundedWhileOthersAreServed) {
  TcpConnectionOptions options;
  options.high_water_bytes = 256 << 10;
  options.low_water_bytes = 64 << 10;
  EchoServer server(1, 100, options);
  Socket hog = Connect(server.address());
  ASSERT_TRUE(hog.SetReceiveBufferSize(4096).ok());
  ASSERT_TRUE(hog.SetNonBlocking(true).ok());
  // Send until the server stops taking bytes (its reading paused), bounded
  // in bytes and in time.
  const std::string block(64 << 10, 'h');
  size_t sent = 0;
  int stalls = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sent < (256u << 20) && absl::Now() < deadline && stalls < 50) {
    const ssize_t n = ::send(hog.fd(), block.data(), block.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += n;
      stalls = 0;
    } else {
      ++stalls;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  EXPECT_LT(sent, 256u << 20) << "the server kept reading from a peer that never reads";
  EXPECT_LE(server.max_output(), options.high_water_bytes + (256u << 10));
  // Meanwhile another client is served normally.
  Socket other = Connect(server.address());
  ASSERT_TRUE(other.SendAll("still served\n").ok());
  EXPECT_EQ(Receive(other, 13), "still served\n");
}

TEST(TcpServerTest, IdleTimeoutClosesOnlySilentConnections) {
  FakeClock clock;
  TcpConnectionOptions options;
  options.idle_timeout = absl::Seconds(300);
  EchoServer server(1, 100, options, DefaultPollerKind(), &clock);
  Socket silent = Connect(server.address());
  Socket chatty = Connect(server.address());
  ASSERT_TRUE(server.WaitForConnections(2));
  auto tick = [&](absl::Duration d) {
    clock.Advance(d);
    // Wake the loop so that it sees the new time.
    absl::Notification done;
    server.io().loop(0)->QueueInLoop([&] { done.Notify(); });
    done.WaitForNotification();
  };
  tick(absl::Seconds(200));
  ASSERT_TRUE(chatty.SendAll("ping\n").ok());
  EXPECT_EQ(Receive(chatty, 5), "ping\n");
  tick(absl::Seconds(101));  // silent: 301 s; chatty: 101 s
  EXPECT_TRUE(ReadsEndOfStream(silent));
  ASSERT_TRUE(server.WaitForConnections(1));
  ASSERT_TRUE(chatty.SendAll("pong\n").ok());
  EXPECT_EQ(Receive(chatty, 5), "pong\n");
  tick(absl::Seconds(301));
  EXPECT_TRUE(ReadsEndOfStream(chatty));
  EXPECT_TRUE(server.WaitForConnections(0));
}

TEST(TcpServerTest, ConnectionsPastTheLimitAreClosedAtOnce) {
  EchoServer server(1, 2, TcpConnectionOptions{});
  Socket a = Connect(server.address());
  Socket b = Connect(server.address());
  ASSERT_TRUE(server.WaitForConnections(2));
  Socket refused = Connect(server.address());
  EXPECT_TRUE(ReadsEndOfStream(refused));
  ASSERT_TRUE(b.SendAll("b\n").ok());
  EXPECT_EQ(Receive(b, 2), "b\n");
  a.Close();
  ASSERT_TRUE(server.WaitForConnections(1));
  Socket c = Connect(server.address());
  ASSERT_TRUE(c.SendAll("c\n").ok());
  EXPECT_EQ(Receive(c, 2), "c\n");
}

TEST(TcpServerTest, HalfCloseGetsEverythingBackThenClose) {
  EchoServer server(1, 10, TcpConnectionOptions{});
  Socket client = Connect(server.address());
  const std::string data(300000, 'z');
  ASSERT_TRUE(client.SendAll(data).ok());
  ASSERT_TRUE(client.ShutdownWrite().ok());
  EXPECT_EQ(Receive(client, data.size()), data);
  EXPECT_TRUE(ReadsEndOfStream(client));
  EXPECT_TRUE(server.WaitForConnections(0));
}

}  // namespace
}  // namespace switchboard
