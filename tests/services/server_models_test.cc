// Copyright Switchboard authors.
//
// The three --model designs serving the same services in process, through
// real sockets on loopback: every dialogue must read the same under each
// model (echo in every framing, identity, auth, the 400 for an overlong
// line, half-close, lingering close, idle timeouts), and then what sets the
// models apart: the iterative one serves one client at a time, the blocking
// one many at once within --max_connections. Every wait is bounded by a
// receive timeout or a bounded retry; nothing asserts how long anything took.

#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/socket.h"
#include "services/server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::ConnectTo;
using testing::Echo;
using testing::InProcessServer;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::TempPath;
using testing::TextClient;

constexpr absl::Duration kReplyTimeout = absl::Seconds(10);
constexpr char kQuestion[] = "300 Hello, stranger. What is your name?";
constexpr char kTokenPattern[] = "[A-Za-z0-9_-]{43}";

ServerConfig ConfigFor(ServerModel model, const std::vector<std::string>& services) {
  ServerConfig config;
  config.model = model;
  config.services = services;
  for (const std::string& service : services) config.ports[service] = 0;
  config.data_dir = TempPath("models");
  config.pwhash_cost = PwhashCost::kMin;
  config.workers = 2;
  return config;
}

// Everything until the server closes; *closed says whether it did (end of
// stream or reset) before the receive timeout.
std::string ReadToEnd(Socket& socket, bool* closed) {
  std::string all;
  char chunk[65536];
  for (;;) {
    absl::StatusOr<size_t> n = socket.ReceiveSome(chunk, sizeof(chunk));
    if (!n.ok()) {
      *closed = absl::StrContains(n.status().message(), "reset");
      return all;
    }
    if (*n == 0) {
      *closed = true;
      return all;
    }
    all.append(chunk, *n);
  }
}

bool ClosedWithNothingMore(Socket& socket) {
  bool closed = false;
  const std::string rest = ReadToEnd(socket, &closed);
  EXPECT_EQ(rest, "");
  return closed;
}

// True when nothing is readable on `socket` for `wait`: for what must not
// happen yet.
bool QuietFor(const Socket& socket, absl::Duration wait) {
  pollfd watch = {socket.fd(), POLLIN, 0};
  return ::poll(&watch, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) == 0;
}

int ThreadsOfThisProcess() {
  int count = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

TextClient ConnectText(int port, absl::string_view from, Framing framing = Framing::kLine) {
  absl::StatusOr<TextClient> client = TextClient::Connect(port, from, framing, kReplyTimeout);
  CHECK(client.ok()) << client.status();
  return *std::move(client);
}

class ServerModelTest : public ::testing::TestWithParam<ServerModel> {
 protected:
  std::unique_ptr<InProcessServer> Serve(ServerConfig config) {
    auto server = std::make_unique<InProcessServer>(config);
    CHECK(server->ok()) << server->status();
    return server;
  }
  std::unique_ptr<InProcessServer> ServeDefaults(const std::vector<std::string>& services) {
    return Serve(ConfigFor(GetParam(), services));
  }
};

TEST_P(ServerModelTest, RawEchoComesBackAtOnceAndExitEndsTheSession) {
  auto server = ServeDefaults({"echo"});
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(client, "hello\n"), "hello\n");
  // Nothing is held back for a line to finish.
  EXPECT_EQ(Echo(client, "abc\nex"), "abc\nex");
  ASSERT_TRUE(client.SendAll("it\r\nafter\n").ok());
  bool closed = false;
  EXPECT_EQ(ReadToEnd(client, &closed), "it\r\n");
  EXPECT_TRUE(closed);
}

TEST_P(ServerModelTest, RawEchoOfAHalfClosedStreamThenClose) {
  auto server = ServeDefaults({"echo"});
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  const std::string data(100000, 'z');
  ASSERT_TRUE(client.SendAll(data).ok());
  ASSERT_TRUE(client.ShutdownWrite().ok());
  bool closed = false;
  EXPECT_EQ(ReadToEnd(client, &closed), data);
  EXPECT_TRUE(closed);
}

TEST_P(ServerModelTest, LateBytesAfterExitDoNotResetAwayTheEcho) {
  auto server = ServeDefaults({"echo"});
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  const std::string head = std::string(200000, 'q') + "\nexit\n";
  std::thread sender([&] {
    ASSERT_TRUE(client.SendAll(head).ok());
    const std::string late(1100, 'l');
    for (int i = 0; i < 20; ++i) {
      if (!client.SendAll(late).ok()) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  bool closed = false;
  const std::string got = ReadToEnd(client, &closed);
  sender.join();
  EXPECT_EQ(got.size(), head.size());
  EXPECT_TRUE(got == head);
  EXPECT_TRUE(closed);
}

TEST_P(ServerModelTest, LineEchoAnswersLinesAndRefusesAnOverlongOne) {
  ServerConfig config = ConfigFor(GetParam(), {"echo"});
  config.framings = {{"echo", Framing::kLine}};
  auto server = Serve(config);
  {
    TextClient client = ConnectText(server->port("echo"), "127.0.0.1");
    EXPECT_EQ(client.Ask("one"), "one");
    client.SendRaw("two\r\nthree\n");
    EXPECT_EQ(client.Next(), "two");
    EXPECT_EQ(client.Next(), "three");
    EXPECT_EQ(client.Ask("exit"), "exit");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    TextClient client = ConnectText(server->port("echo"), "127.0.0.1");
    EXPECT_EQ(client.Ask("short"), "short");
    client.SendRaw(std::string(5000, 'L') + "\n");
    EXPECT_EQ(client.Next(), "400 line too long");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    // A last line without "\n" still counts when the stream ends.
    TextClient client = ConnectText(server->port("echo"), "127.0.0.1");
    client.SendRaw("tail");
    ASSERT_TRUE(client.socket().ShutdownWrite().ok());
    EXPECT_EQ(client.Next(), "tail");
    EXPECT_TRUE(client.ClosedByServer());
  }
}

TEST_P(ServerModelTest, LengthEchoAnswersFramesOfAnyBytes) {
  ServerConfig config = ConfigFor(GetParam(), {"echo"});
  config.framings = {{"echo", Framing::kLength}};
  auto server = Serve(config);
  TextClient client = ConnectText(server->port("echo"), "127.0.0.1", Framing::kLength);
  const std::string binary("bin\0ary\n\xff", 9);
  EXPECT_EQ(client.Ask(binary), binary);
  EXPECT_EQ(client.Ask(""), "");
  EXPECT_EQ(client.Ask(std::string(70000, 'x')), std::string(70000, 'x'));
  EXPECT_EQ(client.Ask("exit"), "exit");
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_P(ServerModelTest, IdentityDialogue) {
  auto server = ServeDefaults({"identity"});
  const int port = server->port("identity");
  {
    TextClient client = ConnectText(port, "127.0.7.1");
    EXPECT_EQ(client.Next(), kQuestion);
    EXPECT_THAT(client.Ask("bell\x07"), StartsWith("400 "));
    EXPECT_EQ(client.Next(), kQuestion);
    EXPECT_EQ(client.Ask("Alice"), "201 Nice to meet you, Alice!");
    EXPECT_EQ(client.Ask("NAME Alicia"), "200 Renamed to Alicia.");
    EXPECT_EQ(client.Ask("FLY AWAY"), "500 unknown command");
    EXPECT_EQ(client.Ask("exit"), "221 Bye, Alicia.");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    TextClient client = ConnectText(port, "127.0.7.1");
    EXPECT_EQ(client.Next(), "200 Hello, Alicia!");
    EXPECT_EQ(client.Ask("FORGET"), "200 Forgot Alicia.");
    EXPECT_EQ(client.Ask("exit"), "221 Bye, stranger.");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    TextClient client = ConnectText(port, "127.0.7.1");
    EXPECT_EQ(client.Next(), kQuestion);
    client.SendRaw(std::string(5000, 'y') + "\n");
    EXPECT_EQ(client.Next(), "400 line too long");
    EXPECT_TRUE(client.ClosedByServer());
  }
}

TEST_P(ServerModelTest, AuthDialogue) {
  auto server = ServeDefaults({"auth"});
  const int port = server->port("auth");
  std::string token;
  {
    TextClient client = ConnectText(port, "127.0.7.2");
    EXPECT_EQ(client.Next(),
              "220 auth ready; REGISTER <user> <password> or LOGIN <user> <password>");
    const std::string registered = client.Ask("REGISTER alice correct-horse");
    ASSERT_THAT(registered,
                MatchesRegex(absl::StrCat("201 registered alice; session ", kTokenPattern)));
    token = registered.substr(registered.rfind(' ') + 1);
    EXPECT_EQ(client.Ask("REGISTER alice another-one"), "409 user exists");
    EXPECT_EQ(client.Ask("WHOAMI"), "200 alice");
    EXPECT_EQ(client.Ask("exit"), "221 Bye.");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    TextClient client = ConnectText(port, "127.0.7.2");
    EXPECT_EQ(client.Next(), "220 auth ready; known as alice: LOGIN <password>");
    EXPECT_EQ(client.Ask("LOGIN not-the-password"), "401 invalid credentials");
    EXPECT_THAT(client.Ask("LOGIN correct-horse"),
                MatchesRegex(absl::StrCat("200 welcome alice; session ", kTokenPattern)));
    EXPECT_EQ(client.Ask("LOGOUT"), "200 logged out");
    EXPECT_EQ(client.Ask("DANCE"), "500 unknown command");
  }
  {
    TextClient client = ConnectText(port, "127.0.7.3");
    client.Next();
    EXPECT_EQ(client.Ask(absl::StrCat("RESUME ", token)), "200 welcome back alice");
    EXPECT_EQ(client.Ask("WHOAMI"), "200 alice");
    EXPECT_EQ(client.Ask("exit"), "221 Bye.");
    EXPECT_TRUE(client.ClosedByServer());
  }
}

TEST_P(ServerModelTest, IdleTimeoutClosesASilentClientAndServesTheNext) {
  ServerConfig config = ConfigFor(GetParam(), {"echo"});
  config.idle_timeout = absl::Seconds(1);
  auto server = Serve(config);
  Socket silent = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_TRUE(ClosedWithNothingMore(silent));
  Socket next = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(next, "next\n"), "next\n");
}

TEST_P(ServerModelTest, IdleTimeoutClosesAClientThatDoesNotReadItsReplies) {
  ServerConfig config = ConfigFor(GetParam(), {"echo"});
  config.idle_timeout = absl::Seconds(1);
  auto server = Serve(config);
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  ASSERT_TRUE(client.SetReceiveBufferSize(4096).ok());
  // Sends until the server, blocked on replies nobody reads, gives up and
  // the sends fail; 256 MiB at most, so a server that never closes fails
  // the test instead of hanging it.
  const std::string chunk(1 << 20, 'u');
  absl::Status sent;
  for (int i = 0; i < 256 && sent.ok(); ++i) sent = client.SendAll(chunk);
  EXPECT_FALSE(sent.ok()) << "the server kept reading from a client that reads nothing";
}

TEST_P(ServerModelTest, ShutdownWithClientsConnectedLeavesNoThreadBehind) {
  const int before = ThreadsOfThisProcess();
  ServerConfig config = ConfigFor(GetParam(), {"echo", "identity"});
  config.shutdown_grace = absl::Milliseconds(500);
  std::vector<Socket> clients;
  {
    auto server = Serve(config);
    clients.push_back(ConnectTo("127.0.0.1", server->port("echo")));
    EXPECT_EQ(Echo(clients.back(), "served\n"), "served\n");
    clients.push_back(ConnectTo("127.0.0.1", server->port("identity"), "127.0.7.4"));
    std::string greeting(sizeof(kQuestion), '\0');  // the question and "\n"
    ASSERT_TRUE(clients.back().ReceiveExactly(greeting.data(), greeting.size()).ok());
    // Under the iterative model these two wait in the backlogs.
    clients.push_back(ConnectTo("127.0.0.1", server->port("echo")));
    clients.push_back(ConnectTo("127.0.0.1", server->port("identity")));
    EXPECT_GT(ThreadsOfThisProcess(), before);
    // The server is destroyed with all four open.
  }
  EXPECT_EQ(ThreadsOfThisProcess(), before);
  for (Socket& client : clients) {
    bool closed = false;
    ReadToEnd(client, &closed);
    EXPECT_TRUE(closed);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ServerModelTest,
                         ::testing::Values(ServerModel::kReactor, ServerModel::kBlocking,
                                           ServerModel::kIterative),
                         [](const ::testing::TestParamInfo<ServerModel>& info) {
                           return std::string(ServerModelName(info.param));
                         });

TEST(IterativeModelTest, ASecondClientWaitsUntilTheFirstLeaves) {
  InProcessServer server(ConfigFor(ServerModel::kIterative, {"echo"}));
  ASSERT_TRUE(server.ok()) << server.status();
  Socket first = ConnectTo("127.0.0.1", server.port("echo"));
  EXPECT_EQ(Echo(first, "first\n"), "first\n");
  // The kernel completes the second handshake (backlog), but nobody reads.
  Socket second = ConnectTo("127.0.0.1", server.port("echo"));
  ASSERT_TRUE(second.SendAll("second\n").ok());
  EXPECT_TRUE(QuietFor(second, absl::Milliseconds(300)));
  EXPECT_EQ(Echo(first, "still first\n"), "still first\n");
  first.Close();
  std::string got(7, '\0');
  ASSERT_TRUE(second.ReceiveExactly(got.data(), got.size()).ok());
  EXPECT_EQ(got, "second\n");
  EXPECT_EQ(Echo(second, "more\n"), "more\n");
}

TEST(IterativeModelTest, EachServiceHasItsOwnQueue) {
  InProcessServer server(ConfigFor(ServerModel::kIterative, {"echo", "identity"}));
  ASSERT_TRUE(server.ok()) << server.status();
  Socket echo = ConnectTo("127.0.0.1", server.port("echo"));
  EXPECT_EQ(Echo(echo, "busy\n"), "busy\n");
  TextClient identity = ConnectText(server.port("identity"), "127.0.7.5");
  EXPECT_EQ(identity.Next(), kQuestion);
}

// Connects until a client is served (the slot of one that left frees once
// the server has seen it leave); at most `attempts` tries.
bool ServedAfterRetries(int port, int attempts) {
  for (int i = 0; i < attempts; ++i) {
    Socket client = ConnectTo("127.0.0.1", port);
    if (client.SendAll("again\n").ok()) {
      char reply[6];
      if (client.ReceiveExactly(reply, sizeof(reply)).ok()) return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

TEST(IterativeModelTest, MaxConnectionsCountsEveryService) {
  ServerConfig config = ConfigFor(ServerModel::kIterative, {"echo", "identity"});
  config.max_connections = 1;
  InProcessServer server(config);
  ASSERT_TRUE(server.ok()) << server.status();
  Socket echo = ConnectTo("127.0.0.1", server.port("echo"));
  EXPECT_EQ(Echo(echo, "busy\n"), "busy\n");
  Socket identity = ConnectTo("127.0.0.1", server.port("identity"));
  bool closed = false;
  EXPECT_EQ(ReadToEnd(identity, &closed), "421 too many connections; try again later\n");
  EXPECT_TRUE(closed) << "accepted past --max_connections";
  echo.Close();
  EXPECT_TRUE(ServedAfterRetries(server.port("echo"), 100));
}

// Past --max_connections, a service with lines says why in its framing
// before the close (every model); echo has no lines to say it in.
TEST(MaxConnectionsTest, LineServicesSayWhyInTheirFraming) {
  for (ServerModel model :
       {ServerModel::kReactor, ServerModel::kBlocking, ServerModel::kIterative}) {
    SCOPED_TRACE(ServerModelName(model));
    ServerConfig config = ConfigFor(model, {"echo", "identity", "auth"});
    config.max_connections = 1;
    config.framings["auth"] = Framing::kLength;
    InProcessServer server(config);
    ASSERT_TRUE(server.ok()) << server.status();
    Socket echo = ConnectTo("127.0.0.1", server.port("echo"));
    EXPECT_EQ(Echo(echo, "holding the only place\n"), "holding the only place\n");
    bool closed = false;
    Socket identity = ConnectTo("127.0.0.1", server.port("identity"));
    EXPECT_EQ(ReadToEnd(identity, &closed), "421 too many connections; try again later\n");
    EXPECT_TRUE(closed);
    Socket auth = ConnectTo("127.0.0.1", server.port("auth"));
    const std::string text = "421 too many connections; try again later";
    EXPECT_EQ(ReadToEnd(auth, &closed),
              absl::StrCat(std::string("\0\0\0", 3), std::string(1, static_cast<char>(text.size())),
                           text));
    EXPECT_TRUE(closed);
    // (The iterative model leaves a second echo client in the backlog,
    // not accepted: nothing to refuse.)
    if (model == ServerModel::kIterative) continue;
    Socket second_echo = ConnectTo("127.0.0.1", server.port("echo"));
    EXPECT_TRUE(ClosedWithNothingMore(second_echo));
  }
}

TEST(BlockingModelTest, FiftyClientsAreServedAtOnce) {
  constexpr int kClients = 50;
  InProcessServer server(ConfigFor(ServerModel::kBlocking, {"echo"}));
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Mutex mu;
  int connected = 0;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Socket client = ConnectTo("127.0.0.1", server.port("echo"));
      // Every client is connected before any talks: only a server that
      // serves them at once answers them all.
      {
        absl::MutexLock lock(&mu);
        ++connected;
        mu.AwaitWithTimeout(absl::Condition(
                                +[](int* n) { return *n == kClients; }, &connected),
                            kReplyTimeout);
      }
      const std::string message = absl::StrCat(std::string(1000, 'a' + i % 26), i, "\n");
      bool ok = true;
      for (int round = 0; round < 20 && ok; ++round) {
        if (!client.SendAll(message).ok()) ok = false;
        std::string got(message.size(), '\0');
        if (ok && (!client.ReceiveExactly(got.data(), got.size()).ok() || got != message)) {
          ok = false;
        }
      }
      if (ok) good.fetch_add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kClients);
}

TEST(BlockingModelTest, MaxConnectionsClosesTheExtraOnesAtOnce) {
  ServerConfig config = ConfigFor(ServerModel::kBlocking, {"echo"});
  config.max_connections = 2;
  InProcessServer server(config);
  ASSERT_TRUE(server.ok()) << server.status();
  Socket a = ConnectTo("127.0.0.1", server.port("echo"));
  Socket b = ConnectTo("127.0.0.1", server.port("echo"));
  EXPECT_EQ(Echo(a, "a\n"), "a\n");
  EXPECT_EQ(Echo(b, "b\n"), "b\n");
  Socket c = ConnectTo("127.0.0.1", server.port("echo"));
  EXPECT_TRUE(ClosedWithNothingMore(c)) << "accepted past --max_connections";
  EXPECT_EQ(Echo(b, "b still\n"), "b still\n");
  a.Close();
  EXPECT_TRUE(ServedAfterRetries(server.port("echo"), 100));
}

// --max_connections_per_address: one address's share, under the models
// that hold several connections at once; other addresses are served, and a
// slot given back is taken again.
TEST(MaxConnectionsTest, PerAddressCapRefusesOnlyThatAddress) {
  for (ServerModel model : {ServerModel::kReactor, ServerModel::kBlocking}) {
    SCOPED_TRACE(ServerModelName(model));
    ServerConfig config = ConfigFor(model, {"echo", "identity"});
    config.max_connections_per_address = 2;
    InProcessServer server(config);
    ASSERT_TRUE(server.ok()) << server.status();
    Socket a = ConnectTo("127.0.0.1", server.port("echo"), "127.0.0.2");
    Socket b = ConnectTo("127.0.0.1", server.port("identity"), "127.0.0.2");
    EXPECT_EQ(Echo(a, "a\n"), "a\n");
    Socket c = ConnectTo("127.0.0.1", server.port("identity"), "127.0.0.2");
    bool closed = false;
    EXPECT_EQ(ReadToEnd(c, &closed),
              "421 too many connections from your address; try again later\n");
    EXPECT_TRUE(closed);
    Socket echo_c = ConnectTo("127.0.0.1", server.port("echo"), "127.0.0.2");
    EXPECT_TRUE(ClosedWithNothingMore(echo_c));
    Socket other = ConnectTo("127.0.0.1", server.port("echo"), "127.0.0.3");
    EXPECT_EQ(Echo(other, "other\n"), "other\n");
    a.Close();
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
      Socket again = ConnectTo("127.0.0.1", server.port("echo"), "127.0.0.2");
      char reply[6];
      served = again.SendAll("again\n").ok() && again.ReceiveExactly(reply, sizeof(reply)).ok();
      if (!served) absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_TRUE(served) << "the slot given back was not taken again";
  }
}

TEST(ServerModelNameTest, ParsesTheThreeModels) {
  for (ServerModel model :
       {ServerModel::kReactor, ServerModel::kBlocking, ServerModel::kIterative}) {
    absl::StatusOr<ServerModel> parsed = ParseServerModel(ServerModelName(model));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, model);
  }
  EXPECT_FALSE(ParseServerModel("threads").ok());
  EXPECT_FALSE(ParseServerModel("Blocking").ok());
  EXPECT_FALSE(ParseServerModel("").ok());
}

}  // namespace
}  // namespace switchboard
