// Copyright Switchboard authors.
//
// The server binary as a user runs it: what it prints, what it refuses,
// how it stops, and how it copes with running out of descriptors.

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process/child_process.h"
#include "reactor/socket.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback.h"

namespace switchboard {
namespace {

using testing::ConnectTo;
using testing::Echo;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::RunfilePath;
using testing::ServerProcess;

bool AtEndOfStream(Socket& socket) {
  char c;
  absl::StatusOr<size_t> n = socket.ReceiveSome(&c, 1);
  return (n.ok() && *n == 0) || (!n.ok() && absl::StrContains(n.status().message(), "reset"));
}

// Runs the server with `flags` and returns {exit status, stderr}.
std::pair<int, std::string> RunToExit(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {RunfilePath("services/server")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto child = ChildProcess::Start(argv);
  CHECK(child.ok());
  std::optional<int> status = child->Wait(absl::Seconds(30));
  std::string out = child->ReadAll(absl::Seconds(1));
  EXPECT_EQ(out, "") << "a failed start-up printed to stdout";
  return {status.value_or(-1), child->Stderr()};
}

TEST(ServerTest, AnnouncesExactlyOneListeningLinePerService) {
  auto server = ServerProcess::Start({"echo"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(server->listening_lines().size(), 1u);
  EXPECT_THAT(server->listening_lines()[0],
              MatchesRegex("listening echo tcp 127\\.0\\.0\\.1:[0-9]+"));
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(client, "hello\n"), "hello\n");
  client.Close();
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_EQ(server->process().ReadAll(absl::Seconds(5)), "")
      << "stdout must hold the listening lines and nothing else";
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("starting: model reactor, poller epoll"));
  EXPECT_THAT(log, HasSubstr("connected as connection 1"));
  EXPECT_THAT(log, HasSubstr("closed: "));
  EXPECT_THAT(log, HasSubstr("received 6 bytes, sent 6 bytes"));
  EXPECT_THAT(log, HasSubstr("shutdown begun"));
  EXPECT_THAT(log, HasSubstr("server stopped"));
  // Per-message events only at --v=1.
  EXPECT_THAT(log, ::testing::Not(HasSubstr("received 6 bytes from")));
}

TEST(ServerTest, VerboseLogsEveryDataEvent) {
  auto server = ServerProcess::Start({"echo"}, {"--v=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(client, "four\n"), "four\n");
  client.Close();
  EXPECT_EQ(server->Stop(), 0);
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("received 5 bytes from"));
  EXPECT_THAT(log, HasSubstr("sent 5 bytes to"));
  EXPECT_THAT(log, HasSubstr("message of 5 bytes"));
}

TEST(ServerTest, LogDirSendsTheEventsToFiles) {
  const std::string dir = testing::TempPath("logs");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  auto server = ServerProcess::Start({"echo"}, {"--log_dir=" + dir});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_THAT(server->process().Stderr(), ::testing::Not(HasSubstr("starting: model")));
  std::ifstream log(dir + "/server.INFO");
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(all, HasSubstr("starting: model reactor"));
  EXPECT_THAT(all, HasSubstr("server stopped"));
}

TEST(ServerTest, DualStackHostAcceptsIpv4AndIpv6) {
  auto server = ServerProcess::Start({"echo"}, {"--host=::"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT(server->listening_lines()[0], MatchesRegex("listening echo tcp \\[::\\]:[0-9]+"));
  const int port = server->port("echo");
  Socket v4 = ConnectTo("127.0.0.1", port);
  EXPECT_EQ(Echo(v4, "over ipv4\n"), "over ipv4\n");
  auto v6 = Socket::Connect(*InetAddress::Parse("::1", port));
  if (v6.ok()) {
    EXPECT_EQ(Echo(*v6, "over ipv6\n"), "over ipv6\n");
  }
  v4.Close();
  EXPECT_EQ(server->Stop(), 0);
  // The IPv4 peer is logged as IPv4, not as ::ffff:127.0.0.1.
  EXPECT_THAT(server->process().Stderr(), HasSubstr("client 127.0.0.1:"));
  EXPECT_THAT(server->process().Stderr(), ::testing::Not(HasSubstr("::ffff:")));
}

TEST(ServerTest, SigintStopsGracefullyWithStatusZero) {
  auto server = ServerProcess::Start({"echo"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket idle = ConnectTo("127.0.0.1", server->port("echo"));
  Socket busy = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(busy, "in flight\n"), "in flight\n");
  server->process().Signal(SIGINT);
  EXPECT_EQ(server->process().Wait(absl::Seconds(10)), 0);
  EXPECT_TRUE(AtEndOfStream(idle));
  EXPECT_THAT(server->process().Stderr(), HasSubstr("received SIGINT"));
}

// Idle clients do not hold a shutdown: with a long grace and clients that
// never close (which a lingering close would wait for, up to its 5 s), the
// server exits at once, and each idle client sees the end of the stream.
TEST(ServerTest, IdleConnectionsAreClosedAtOnceOnSigterm) {
  auto server = ServerProcess::Start({"echo", "identity"}, {"--shutdown_grace=60s"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket idle = ConnectTo("127.0.0.1", server->port("echo"));
  Socket talked = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(talked, "hello\n"), "hello\n");
  Socket greeted = ConnectTo("127.0.0.1", server->port("identity"));
  char greeting[4];
  ASSERT_TRUE(greeted.ReceiveExactly(greeting, sizeof(greeting)).ok());  // "300 "
  server->process().Signal(SIGTERM);
  // Well under the 5 s a lingering close would wait for these clients.
  EXPECT_EQ(server->process().Wait(absl::Seconds(3)), 0) << server->process().Stderr();
  EXPECT_TRUE(AtEndOfStream(idle));
  EXPECT_TRUE(AtEndOfStream(talked));
}

TEST(ServerTest, ShutdownDeliversRepliesAlreadyOwed) {
  // A client that has not read its echo yet still gets all of it.
  auto server = ServerProcess::Start({"echo"}, {"--shutdown_grace=5s"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  const std::string data(2 << 20, 'd');
  std::thread sender([&] { EXPECT_TRUE(client.SendAll(data).ok()); });
  absl::SleepFor(absl::Milliseconds(200));  // let the server start echoing
  server->process().Signal(SIGTERM);
  size_t got = 0;
  std::string chunk(65536, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = client.ReceiveSome(chunk.data(), chunk.size());
    if (!n.ok() || *n == 0) break;
    got += *n;
  }
  sender.join();
  EXPECT_EQ(server->process().Wait(absl::Seconds(10)), 0);
  EXPECT_GT(got, 0u);
  EXPECT_LE(got, data.size());
}

TEST(ServerTest, OtherFramingsAndBackends) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--poller=poll"},
                                             {"--dispatch=pool", "--workers=3"},
                                             {"--io_threads=3"},
                                             {"--echo_chunk=1"}}) {
    auto server = ServerProcess::Start({"echo"}, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    Socket client = ConnectTo("127.0.0.1", server->port("echo"));
    const std::string data = std::string(10000, 'q') + "\n";
    EXPECT_EQ(Echo(client, data), data) << flags[0];
    EXPECT_EQ(Echo(client, "exit\n"), "exit\n");
    EXPECT_TRUE(AtEndOfStream(client));
    EXPECT_EQ(server->Stop(), 0) << flags[0];
  }
}

TEST(ServerTest, LineFramingRejectsOverlongLines) {
  auto server = ServerProcess::Start({"echo"}, {"--echo_framing=line"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  ASSERT_TRUE(client.SendAll("short\r\n").ok());
  std::string short_reply(6, '\0');
  ASSERT_TRUE(client.ReceiveExactly(short_reply.data(), 6).ok());
  EXPECT_EQ(short_reply, "short\n");
  const std::string reply = "400 line too long\n";
  ASSERT_TRUE(client.SendAll(std::string(5000, 'L') + "\n").ok());
  std::string got(reply.size(), '\0');
  ASSERT_TRUE(client.ReceiveExactly(got.data(), got.size()).ok());
  EXPECT_EQ(got, reply);
  EXPECT_TRUE(AtEndOfStream(client));
  EXPECT_EQ(server->Stop(), 0);
}

TEST(ServerTest, IdleConnectionsAreClosed) {
  auto server = ServerProcess::Start({"echo"}, {"--idle_timeout=1s"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_TRUE(AtEndOfStream(client));
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_THAT(server->process().Stderr(), HasSubstr("idle for 1s"));
}

TEST(ServerTest, MaxConnectionsClosesTheExtraOnes) {
  auto server = ServerProcess::Start({"echo"}, {"--max_connections=2"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket a = ConnectTo("127.0.0.1", server->port("echo"));
  Socket b = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(a, "a\n"), "a\n");
  EXPECT_EQ(Echo(b, "b\n"), "b\n");
  Socket c = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_TRUE(AtEndOfStream(c));
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_THAT(server->process().Stderr(), HasSubstr("--max_connections limit"));
}

// CPU seconds the process has used, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields = absl::StrSplit(all.substr(all.rfind(')') + 2), ' ');
  double utime = 0, stime = 0;
  absl::SimpleAtod(fields[11], &utime);
  absl::SimpleAtod(fields[12], &stime);
  return (utime + stime) / sysconf(_SC_CLK_TCK);
}

TEST(ServerTest, RunningOutOfDescriptorsDoesNotSpin) {
  ChildProcess::Options options;
  options.max_open_files = 24;
  auto server = ServerProcess::Start({"echo"}, {}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = server->port("echo");
  std::vector<Socket> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(ConnectTo("127.0.0.1", port));
  // Some were shed; the server must not burn CPU on the ones it cannot take.
  const double before = CpuSeconds(server->process().pid());
  absl::SleepFor(absl::Seconds(1));
  const double used = CpuSeconds(server->process().pid()) - before;
  EXPECT_LT(used, 0.5) << "the accept loop spins when descriptors run out";
  int served = 0, shed = 0;
  for (Socket& client : clients) {
    if (!client.SendAll("x\n").ok()) {
      ++shed;
      continue;
    }
    char reply[2];
    if (client.ReceiveExactly(reply, 2).ok()) {
      ++served;
    } else {
      ++shed;
    }
  }
  EXPECT_GT(served, 0);
  EXPECT_GT(shed, 0);
  clients.clear();
  // Descriptors come back: a new client is served again.
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    Socket again = ConnectTo("127.0.0.1", port);
    recovered = again.SendAll("back\n").ok() && Echo(again, "") == "" && [&] {
      char reply[5];
      return again.ReceiveExactly(reply, 5).ok();
    }();
    if (!recovered) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_THAT(server->process().Stderr(), HasSubstr("out of file descriptors"));
}

TEST(ServerTest, BusyPortWithoutSearchIsAStartupError) {
  auto holder = Socket::Listen(*InetAddress::Parse("127.0.0.1", 0));
  ASSERT_TRUE(holder.ok());
  const int busy = holder->LocalAddress()->port();
  auto [status, err] = RunToExit({"--services=echo", absl::StrCat("--echo_port=", busy)});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("cannot listen for echo on 127.0.0.1:", busy)));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// The store and the engines come after the ports: a busy port stops
// start-up before a fresh --data_dir is created, and the one line on stderr
// is all there is (no store migration lines before it).
TEST(ServerTest, BusyPortIsFoundBeforeTheStoreIsCreated) {
  auto holder = Socket::Listen(*InetAddress::Parse("127.0.0.1", 0));
  ASSERT_TRUE(holder.ok());
  const int busy = holder->LocalAddress()->port();
  const std::string data_dir = testing::TempPath("never-created");
  auto [status, err] =
      RunToExit({"--services=identity,auth", "--auth_port=0",
                 absl::StrCat("--identity_port=", busy), absl::StrCat("--data_dir=", data_dir)});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("cannot listen for identity on 127.0.0.1:", busy)));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(access(data_dir.c_str(), F_OK), 0) << data_dir << " was created";
}

TEST(ServerTest, BusyChatPortIsAStartupErrorUnlessSearched) {
  absl::StatusOr<Socket> holder = Socket::Create(AF_INET, SOCK_DGRAM);
  ASSERT_TRUE(holder.ok());
  ASSERT_TRUE(holder->Bind(*InetAddress::Parse("127.0.0.1", 0)).ok());
  const int busy = holder->LocalAddress()->port();
  auto [status, err] = RunToExit({"--services=chat", absl::StrCat("--chat_port=", busy)});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("cannot listen for chat on 127.0.0.1:", busy)));
  auto server =
      ServerProcess::Start({"chat"}, {absl::StrCat("--chat_port=", busy), "--port_search=20"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT(server->port("chat"), busy);
  EXPECT_EQ(server->Stop(), 0);
}

// Counts the connections a server's log says it accepted.
int ConnectionsAccepted(const std::string& log) {
  int count = 0;
  for (size_t at = log.find(" connected as connection "); at != std::string::npos;
       at = log.find(" connected as connection ", at + 1)) {
    ++count;
  }
  return count;
}

TEST(ServerTest, ReusePortLetsTwoServersShareTheirPorts) {
  auto first = ServerProcess::Start({"echo", "chat"}, {"--reuse_port"});
  ASSERT_TRUE(first.ok()) << first.status();
  const int echo_port = first->port("echo");
  const int chat_port = first->port("chat");
  const std::vector<std::string> same_ports = {absl::StrCat("--echo_port=", echo_port),
                                               absl::StrCat("--chat_port=", chat_port)};

  // Without the flag the port is taken, as always.
  std::vector<std::string> refused = {"--services=echo"};
  refused.push_back(same_ports[0]);
  auto [status, err] = RunToExit(refused);
  EXPECT_EQ(status, 2) << err;

  std::vector<std::string> flags = same_ports;
  flags.push_back("--reuse_port");
  auto second = ServerProcess::Start({"echo", "chat"}, flags);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->port("echo"), echo_port);
  EXPECT_EQ(second->port("chat"), chat_port);

  // The kernel spreads connections by their addresses: with 40 of them, the
  // chance that all go to one process is 2^-39.
  constexpr int kConnections = 40;
  for (int i = 0; i < kConnections; ++i) {
    Socket client = ConnectTo("127.0.0.1", echo_port);
    const std::string line = absl::StrCat("hello ", i, "\n");
    ASSERT_EQ(Echo(client, line), line);
  }
  EXPECT_EQ(first->Stop(), 0);
  EXPECT_EQ(second->Stop(), 0);
  const int by_first = ConnectionsAccepted(first->process().Stderr());
  const int by_second = ConnectionsAccepted(second->process().Stderr());
  EXPECT_EQ(by_first + by_second, kConnections);
  EXPECT_GT(by_first, 0);
  EXPECT_GT(by_second, 0);
}

TEST(ServerTest, OneServerRunsAllFourServicesInTheOrderAsked) {
  auto server = ServerProcess::Start({"chat", "echo", "auth", "identity"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::string>& lines = server->listening_lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], MatchesRegex("listening chat udp 127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT(lines[1], MatchesRegex("listening echo tcp 127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT(lines[2], MatchesRegex("listening auth tcp 127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT(lines[3], MatchesRegex("listening identity tcp 127\\.0\\.0\\.1:[0-9]+"));
  const std::set<int> ports = {server->port("chat"), server->port("echo"), server->port("auth"),
                               server->port("identity")};
  EXPECT_EQ(ports.size(), 4u);
  EXPECT_EQ(server->Stop(), 0);
}

TEST(ServerTest, PortSearchSkipsBusyPortsAndLogsThem) {
  auto holder = Socket::Listen(*InetAddress::Parse("127.0.0.1", 0));
  ASSERT_TRUE(holder.ok());
  const int busy = holder->LocalAddress()->port();
  auto server =
      ServerProcess::Start({"echo"}, {absl::StrCat("--echo_port=", busy), "--port_search=20"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT(server->port("echo"), busy);
  EXPECT_LE(server->port("echo"), busy + 20);
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_THAT(server->process().Stderr(), HasSubstr(absl::StrCat("port ", busy, " is in use")));
}

TEST(ServerTest, BadFlagsExitWithStatusTwoAndOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"--services=echo,nonsense"},
      {"--services=echo,echo"},
      {"--services="},
      {"--echo_port=abc"},
      {"--echo_port=70000"},
      {"--idle_timeout=soon"},
      {"--shutdown_grace=-1s"},
      {"--echo_framing=zip"},
      {"--identity_framing=raw"},
      {"--poller=kqueue"},
      {"--poller=select"},
      {"--model=threads"},
      {"--dispatch=sometimes"},
      {"--io_threads=0"},
      {"--max_connections=0"},
      {"--pwhash_cost=cheap"},
      {"--chat_max_members=0"},
      {"--chat_timeout=0s"},
      {"--chat_rate=0"},
      {"--chat_rate=fast"},
      {"--host=not-an-address"},
      {"--reuse_port=sometimes"},
      {"--no_such_flag=1"},
      {"stray-argument"},
  };
  for (const std::vector<std::string>& flags : cases) {
    std::vector<std::string> args = {"--echo_port=0"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto [status, err] = RunToExit(args);
    EXPECT_EQ(status, 2) << flags[0] << ": " << err;
    // One line of explanation, nothing else.
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << flags[0] << ": " << err;
  }
}

}  // namespace
}  // namespace switchboard
