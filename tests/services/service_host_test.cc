// Copyright Switchboard authors.
//
// ServiceHost through real loopback connections: framing and its limits,
// inline and pool dispatch, per-connection order on many workers, greetings,
// half-close with replies still on the pool.

#include "services/service_host.h"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "reactor/event_loop_pool.h"
#include "reactor/message_socket.h"
#include "reactor/socket.h"
#include "reactor/tcp_server.h"
#include "reactor/thread_pool.h"
#include "services/echo/echo_service.h"
#include "tests/testing/loop_thread.h"

namespace switchboard {
namespace {

using testing::LoopThread;

// Greets, then answers each message with "<n>:<message>", and records which
// threads ran it.
class CountingService final : public Service {
 public:
  explicit CountingService(bool cheap) : cheap_(cheap) {}
  absl::string_view name() const override { return "counting"; }
  bool cheap() const override { return cheap_; }
  std::unique_ptr<Session> NewSession(const SessionInfo&) override {
    return std::make_unique<CountingSession>(this);
  }

  void Saw(std::thread::id id) {
    absl::MutexLock lock(&mutex_);
    threads_.push_back(id);
  }
  std::vector<std::thread::id> threads() const {
    absl::MutexLock lock(&mutex_);
    return threads_;
  }

 private:
  class CountingSession final : public Session {
   public:
    explicit CountingSession(CountingService* service) : service_(service) {}
    void OnStart(Replies& out) override { out.Reply("hello"); }
    void OnMessage(absl::string_view message, Replies& out) override {
      // Two calls at once on one session would trip this.
      CHECK(!busy_.exchange(true)) << "session called concurrently";
      service_->Saw(std::this_thread::get_id());
      out.Reply(absl::StrCat(++count_, ":", message));
      if (message == "bye") out.EndSession();
      busy_.store(false);
    }
    void OnEndOfInput(Replies& out) override { out.Reply("end of input"); }

   private:
    CountingService* service_;
    std::atomic<bool> busy_{false};
    int count_ = 0;
  };

  const bool cheap_;
  mutable absl::Mutex mutex_;
  std::vector<std::thread::id> threads_;
};

class HostedServer {
 public:
  HostedServer(Service* service, ServiceHostOptions options, int workers = 8)
      : io_(1, DefaultPollerKind()), limit_(10000), pool_(workers, 1 << 16) {
    CHECK(io_.Start().ok());
    host_ = std::make_unique<ServiceHost>(service, &pool_, options);
    accept_.RunSync([&] {
      auto listener = Socket::Listen(*InetAddress::Parse("127.0.0.1", 0));
      CHECK(listener.ok());
      server_ = std::make_unique<TcpServer>(accept_.loop(), &io_, *std::move(listener), &limit_,
                                            TcpServerOptions{});
      host_->Attach(server_.get());
      server_->Start();
    });
  }
  ~HostedServer() {
    accept_.RunSync([&] {
      server_->StopAccepting();
      server_->CloseAll("test over");
      server_.reset();
    });
    pool_.Stop(absl::Seconds(5));
    io_.Stop();
  }

  Socket Connect() {
    auto socket = Socket::Connect(server_->local_address());
    CHECK(socket.ok());
    CHECK(socket->SetReceiveTimeout(absl::Seconds(10)).ok());
    return *std::move(socket);
  }
  // Holds the I/O loop inside a task; notifying what it returns lets it go.
  // (Shared: the task may still be waking up when the caller moves on.)
  std::shared_ptr<absl::Notification> HoldIo() {
    auto held = std::make_shared<absl::Notification>();
    auto release = std::make_shared<absl::Notification>();
    io_.loop(0)->QueueInLoop([held, release] {
      held->Notify();
      release->WaitForNotification();
    });
    held->WaitForNotification();
    return release;
  }
  int connections() const { return server_->connection_count(); }
  std::thread::id io_thread() {
    std::thread::id id;
    absl::Notification done;
    io_.loop(0)->QueueInLoop([&] {
      id = std::this_thread::get_id();
      done.Notify();
    });
    done.WaitForNotification();
    return id;
  }

 private:
  LoopThread accept_;
  EventLoopPool io_;
  ConnectionLimit limit_;
  ThreadPool pool_;
  std::unique_ptr<ServiceHost> host_;
  std::unique_ptr<TcpServer> server_;
};

// Reads one "\n"-terminated line (without it); empty optional at EOF.
std::string ReadLine(Socket& socket, bool* eof = nullptr) {
  std::string line;
  char c;
  for (;;) {
    absl::StatusOr<size_t> n = socket.ReceiveSome(&c, 1);
    if (!n.ok() || *n == 0) {
      if (eof != nullptr) *eof = true;
      return line;
    }
    if (c == '\n') return line;
    line.push_back(c);
  }
}

bool AtEndOfStream(Socket& socket) {
  char c;
  absl::StatusOr<size_t> n = socket.ReceiveSome(&c, 1);
  return n.ok() && *n == 0;
}

ServiceHostOptions LineOptions(Dispatch dispatch = Dispatch::kAuto) {
  ServiceHostOptions options;
  options.framing = Framing::kLine;
  options.dispatch = dispatch;
  return options;
}

// Answers "<message>" with "ok <message>", records every message it is
// given, and holds a worker inside "block" until released.
class GateService final : public Service {
 public:
  absl::string_view name() const override { return "gate"; }
  bool cheap() const override { return false; }
  std::unique_ptr<Session> NewSession(const SessionInfo&) override {
    return std::make_unique<GateSession>(this);
  }
  absl::Notification& entered() { return entered_; }
  absl::Notification& release() { return release_; }
  std::vector<std::string> seen() const {
    absl::MutexLock lock(&mutex_);
    return seen_;
  }

 private:
  class GateSession final : public Session {
   public:
    explicit GateSession(GateService* service) : service_(service) {}
    void OnStart(Replies& out) override { out.Reply("hello"); }
    void OnMessage(absl::string_view message, Replies& out) override {
      {
        absl::MutexLock lock(&service_->mutex_);
        service_->seen_.emplace_back(message);
      }
      if (message == "block") {
        service_->entered_.Notify();
        service_->release_.WaitForNotification();
      }
      out.Reply(absl::StrCat("ok ", message));
    }

   private:
    GateService* service_;
  };

  mutable absl::Mutex mutex_;
  std::vector<std::string> seen_;
  absl::Notification entered_;
  absl::Notification release_;
};

// Work queued for a connection that then closed is dropped, not run: with
// the only worker held, a client queues a request and resets; once the
// worker is free, the service never sees that request.
TEST(ServiceHostTest, WorkQueuedForAClosedConnectionIsDropped) {
  GateService service;
  HostedServer server(&service, LineOptions(), /*workers=*/1);
  Socket holder = server.Connect();
  EXPECT_EQ(ReadLine(holder), "hello");
  ASSERT_TRUE(holder.SendAll("block\n").ok());
  service.entered().WaitForNotification();

  Socket gone = server.Connect();
  ASSERT_TRUE(gone.SendAll("for nobody\n").ok());
  // Wait until the server has read it (the call is queued behind "block"),
  // then reset the connection.
  absl::SleepFor(absl::Milliseconds(100));
  const linger reset_on_close = {1, 0};
  ASSERT_EQ(setsockopt(gone.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close),
            0);
  gone.Close();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server.connections() > 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(server.connections(), 1) << "the server did not see the reset";

  service.release().Notify();
  EXPECT_EQ(ReadLine(holder), "ok block");
  // Queued after the dropped calls: once answered, they are behind us.
  ASSERT_TRUE(holder.SendAll("after\n").ok());
  EXPECT_EQ(ReadLine(holder), "ok after");
  EXPECT_EQ(service.seen(), (std::vector<std::string>{"block", "after"}));
}

// --request_timeout: a message must be complete within the deadline from
// its first byte; a slow drip does not move it, whole messages and silence
// between messages are not timed.
TEST(ServiceHostTest, UnfinishedMessageGets408WhenItsDeadlinePasses) {
  for (bool cheap : {true, false}) {
    SCOPED_TRACE(cheap ? "on the I/O thread" : "on the pool");
    CountingService service(cheap);
    ServiceHostOptions options = LineOptions();
    options.request_timeout = absl::Milliseconds(300);
    HostedServer server(&service, options);

    // Silence between whole messages is not a request in progress.
    Socket quiet = server.Connect();
    EXPECT_EQ(ReadLine(quiet), "hello");
    absl::SleepFor(absl::Milliseconds(600));
    ASSERT_TRUE(quiet.SendAll("still here\n").ok());
    EXPECT_EQ(ReadLine(quiet), "1:still here");

    // A drip, one byte every 100 ms: the deadline runs from the first.
    Socket drip = server.Connect();
    EXPECT_EQ(ReadLine(drip), "hello");
    bool eof = false;
    for (int i = 0; i < 8 && !eof; ++i) {
      if (!drip.SendAll("x").ok()) break;
      absl::SleepFor(absl::Milliseconds(100));
      pollfd watch = {drip.fd(), POLLIN, 0};
      eof = ::poll(&watch, 1, 0) == 1;
    }
    EXPECT_EQ(ReadLine(drip), "408 request timeout");
    EXPECT_TRUE(AtEndOfStream(drip));

    // The other connection goes on.
    ASSERT_TRUE(quiet.SendAll("after\n").ok());
    EXPECT_EQ(ReadLine(quiet), "2:after");
  }
}

TEST(ServiceHostTest, CheapServiceRunsOnTheIoThread) {
  CountingService service(/*cheap=*/true);
  HostedServer server(&service, LineOptions());
  Socket client = server.Connect();
  EXPECT_EQ(ReadLine(client), "hello");
  ASSERT_TRUE(client.SendAll("a\nb\r\n").ok());
  EXPECT_EQ(ReadLine(client), "1:a");
  EXPECT_EQ(ReadLine(client), "2:b");
  for (std::thread::id id : service.threads()) EXPECT_EQ(id, server.io_thread());
}

TEST(ServiceHostTest, BlockingServiceRunsOnThePoolInOrder) {
  CountingService service(/*cheap=*/false);
  HostedServer server(&service, LineOptions(), /*workers=*/8);
  constexpr int kClients = 20;
  constexpr int kMessages = 200;
  std::vector<Socket> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(server.Connect());
    std::string burst;
    for (int m = 1; m <= kMessages; ++m) absl::StrAppend(&burst, "c", c, "m", m, "\n");
    ASSERT_TRUE(clients.back().SendAll(burst).ok());
  }
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(ReadLine(clients[c]), "hello");
    for (int m = 1; m <= kMessages; ++m) {
      ASSERT_EQ(ReadLine(clients[c]), absl::StrCat(m, ":c", c, "m", m));
    }
  }
  const std::thread::id io = server.io_thread();
  for (std::thread::id id : service.threads()) EXPECT_NE(id, io);
}

TEST(ServiceHostTest, PoolDispatchSendsCheapServicesToThePool) {
  CountingService service(/*cheap=*/true);
  HostedServer server(&service, LineOptions(Dispatch::kPool));
  Socket client = server.Connect();
  EXPECT_EQ(ReadLine(client), "hello");
  ASSERT_TRUE(client.SendAll("x\n").ok());
  EXPECT_EQ(ReadLine(client), "1:x");
  for (std::thread::id id : service.threads()) EXPECT_NE(id, server.io_thread());
}

TEST(ServiceHostTest, HalfCloseAnswersEverythingQueuedThenCloses) {
  for (bool cheap : {true, false}) {
    CountingService service(cheap);
    HostedServer server(&service, LineOptions());
    Socket client = server.Connect();
    std::string burst;
    for (int m = 1; m <= 50; ++m) absl::StrAppend(&burst, "m", m, "\n");
    burst += "last without newline";
    ASSERT_TRUE(client.SendAll(burst).ok());
    ASSERT_TRUE(client.ShutdownWrite().ok());
    EXPECT_EQ(ReadLine(client), "hello");
    for (int m = 1; m <= 50; ++m) ASSERT_EQ(ReadLine(client), absl::StrCat(m, ":m", m));
    EXPECT_EQ(ReadLine(client), "51:last without newline");
    EXPECT_EQ(ReadLine(client), "end of input");
    EXPECT_TRUE(AtEndOfStream(client)) << (cheap ? "cheap" : "pool");
  }
}

TEST(ServiceHostTest, EndSessionDiscardsWhatFollows) {
  for (bool cheap : {true, false}) {
    CountingService service(cheap);
    HostedServer server(&service, LineOptions());
    Socket client = server.Connect();
    ASSERT_TRUE(client.SendAll("one\nbye\nnever answered\n").ok());
    EXPECT_EQ(ReadLine(client), "hello");
    EXPECT_EQ(ReadLine(client), "1:one");
    EXPECT_EQ(ReadLine(client), "2:bye");
    EXPECT_TRUE(AtEndOfStream(client)) << (cheap ? "cheap" : "pool");
  }
}

TEST(ServiceHostTest, LineTooLongGets400AndClose) {
  for (bool cheap : {true, false}) {
    CountingService service(cheap);
    HostedServer server(&service, LineOptions());
    Socket client = server.Connect();
    EXPECT_EQ(ReadLine(client), "hello");
    ASSERT_TRUE(client.SendAll("fine\n" + std::string(4097, 'x') + "\n").ok());
    EXPECT_EQ(ReadLine(client), "1:fine");
    EXPECT_EQ(ReadLine(client), "400 line too long");
    EXPECT_TRUE(AtEndOfStream(client));
  }
}

TEST(ServiceHostTest, LineOf4096BytesIsFine) {
  CountingService service(true);
  HostedServer server(&service, LineOptions());
  Socket client = server.Connect();
  EXPECT_EQ(ReadLine(client), "hello");
  const std::string line(4096, 'y');
  ASSERT_TRUE(client.SendAll(line + "\r\n").ok());
  EXPECT_EQ(ReadLine(client), "1:" + line);
}

TEST(ServiceHostTest, PendingBytesWithoutNewlineOverTheLimitGet400) {
  CountingService service(true);
  HostedServer server(&service, LineOptions());
  Socket client = server.Connect();
  EXPECT_EQ(ReadLine(client), "hello");
  ASSERT_TRUE(client.SendAll(std::string(5000, 'z')).ok());
  EXPECT_EQ(ReadLine(client), "400 line too long");
  EXPECT_TRUE(AtEndOfStream(client));
}

TEST(ServiceHostTest, LengthFramingEchoRoundTrips) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kLength;
  HostedServer server(&service, options);
  MessageSocket client(server.Connect());
  for (const std::string& message :
       {std::string(), std::string("hi"), std::string("\0\xff\n", 3), std::string(1 << 20, 'm')}) {
    ASSERT_TRUE(client.Send(message).ok());
    absl::StatusOr<std::string> echoed = client.Receive();
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_EQ(*echoed, message);
  }
  ASSERT_TRUE(client.Send("exit").ok());
  EXPECT_EQ(*client.Receive(), "exit");
  EXPECT_TRUE(absl::IsOutOfRange(client.Receive().status()));
}

TEST(ServiceHostTest, LengthOverOneMebibyteClosesWithoutReply) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kLength;
  HostedServer server(&service, options);
  Socket client = server.Connect();
  const char header[4] = {0x00, 0x10, 0x00, 0x01};  // 1 MiB + 1
  ASSERT_TRUE(client.SendAll(absl::string_view(header, 4)).ok());
  EXPECT_TRUE(AtEndOfStream(client));
}

TEST(ServiceHostTest, RawEchoInSmallChunksKeepsEveryByte) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kRaw;
  options.limits.raw_chunk = 7;
  HostedServer server(&service, options);
  Socket client = server.Connect();
  std::string data;
  for (int i = 0; i < 20000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  ASSERT_TRUE(client.SendAll(data).ok());
  std::string got(data.size(), '\0');
  ASSERT_TRUE(client.ReceiveExactly(got.data(), got.size()).ok());
  EXPECT_EQ(got, data);
}

// Raw echo sends a burst's replies from the input itself; the exit line
// still ends them exactly, even mid-burst.
TEST(ServiceHostTest, RawEchoOfABurstStopsJustAfterTheExitLine) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kRaw;
  HostedServer server(&service, options);
  Socket client = server.Connect();
  const std::string echoed = std::string(3000, 'x') + "\nexit\n";
  ASSERT_TRUE(client.SendAll(echoed + std::string(5000, 'y')).ok());
  std::string got(echoed.size(), '\0');
  ASSERT_TRUE(client.ReceiveExactly(got.data(), got.size()).ok());
  EXPECT_EQ(got, echoed);
  EXPECT_TRUE(AtEndOfStream(client));
}

// A client that sends megabytes before reading any reply: the replies the
// socket cannot take at once are queued behind those it took, in order.
TEST(ServiceHostTest, RawEchoOfMegabytesSentBeforeReadingKeepsEveryByteInOrder) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kRaw;
  HostedServer server(&service, options);
  Socket client = server.Connect();
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);  // no newlines
  }
  std::thread sender([&] { EXPECT_TRUE(client.SendAll(data).ok()); });
  absl::SleepFor(absl::Milliseconds(200));  // let the server's output back up
  std::string got(data.size(), '\0');
  const absl::Status received = client.ReceiveExactly(got.data(), got.size());
  sender.join();
  ASSERT_TRUE(received.ok()) << received;
  EXPECT_TRUE(got == data) << "replies out of order or changed";
}

// The client sends and resets before the server gets to it: the echo's
// write fails inside OnData and closes the connection, which must not
// destroy the session while its OnData runs (ASan saw it freed).
TEST(ServiceHostTest, ResetWhileEchoingInsideOnDataLeavesTheServerServing) {
  EchoService service;
  ServiceHostOptions options;
  options.framing = Framing::kRaw;
  HostedServer server(&service, options);
  for (int round = 0; round < 5; ++round) {
    Socket client = server.Connect();
    const std::shared_ptr<absl::Notification> release = server.HoldIo();
    ASSERT_TRUE(client.SendAll(std::string(3000, 'r')).ok());
    const linger reset_on_close{1, 0};
    ASSERT_EQ(
        setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close), 0);
    client.Close();
    absl::SleepFor(absl::Milliseconds(20));  // the reset reaches the server
    release->Notify();
  }
  Socket client = server.Connect();
  ASSERT_TRUE(client.SendAll("still here").ok());
  std::string got(10, '\0');
  ASSERT_TRUE(client.ReceiveExactly(got.data(), got.size()).ok());
  EXPECT_EQ(got, "still here");
}

}  // namespace
}  // namespace switchboard
