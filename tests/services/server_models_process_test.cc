// Copyright Switchboard authors.
//
// The server binary under --model=blocking and --model=iterative, as a user
// runs it: what it logs, how SIGTERM stops it with clients connected, that
// the UDP chat room still answers on the main loop, and that a bad --model
// is a start-up error. Every wait is bounded; nothing asserts how long
// anything took.

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
using ::testing::Not;
using testing::RunfilePath;
using testing::ServerProcess;

// Reads until the server closes (true) or the receive timeout (false).
bool ClosedByServer(Socket& socket) {
  char chunk[4096];
  for (;;) {
    absl::StatusOr<size_t> n = socket.ReceiveSome(chunk, sizeof(chunk));
    if (!n.ok()) return absl::StrContains(n.status().message(), "reset");
    if (*n == 0) return true;
  }
}

class ServerModelProcessTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string ModelFlag() const { return "--model=" + GetParam(); }
  bool iterative() const { return GetParam() == "iterative"; }
};

TEST_P(ServerModelProcessTest, LogsTheModelAndEveryConnection) {
  auto server = ServerProcess::Start({"echo"}, {ModelFlag()});
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Socket client = ConnectTo("127.0.0.1", server->port("echo"));
    EXPECT_EQ(Echo(client, "hello\n"), "hello\n");
    ASSERT_TRUE(client.ShutdownWrite().ok());
    EXPECT_TRUE(ClosedByServer(client));
  }
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_EQ(server->process().ReadAll(absl::Seconds(5)), "")
      << "stdout must hold the listening lines and nothing else";
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("starting: model " + GetParam() + ", poller epoll"));
  EXPECT_THAT(log, HasSubstr("echo: client 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("connected as connection 1 (1 open)"));
  EXPECT_THAT(log, HasSubstr("closed: the client finished sending and has every reply; "
                             "received 6 bytes, sent 6 bytes in "));
  EXPECT_THAT(log, HasSubstr("shutdown begun"));
  EXPECT_THAT(log, HasSubstr("server stopped"));
  // Per-message events only at --v=1.
  EXPECT_THAT(log, Not(HasSubstr("received 6 bytes from")));
  EXPECT_THAT(log, Not(HasSubstr("message of")));
}

TEST_P(ServerModelProcessTest, VerboseLogsEveryDataEvent) {
  auto server = ServerProcess::Start({"echo"}, {ModelFlag(), "--v=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Socket client = ConnectTo("127.0.0.1", server->port("echo"));
    EXPECT_EQ(Echo(client, "four\n"), "four\n");
  }
  EXPECT_EQ(server->Stop(), 0);
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("connection 1: received 5 bytes from 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("connection 1: sent 5 bytes to 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("echo: connection 1: message of 5 bytes"));
}

TEST_P(ServerModelProcessTest, SigtermWithClientsConnectedExitsZero) {
  auto server = ServerProcess::Start({"echo", "identity"}, {ModelFlag()});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket busy = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(busy, "in flight\n"), "in flight\n");
  // Connected and silent: served at once by the blocking model, left in the
  // backlog by the iterative one (which is busy with `busy`).
  Socket idle = ConnectTo("127.0.0.1", server->port("echo"));
  // Greeted, and asked a name it never gives.
  Socket asked = ConnectTo("127.0.0.1", server->port("identity"));
  char greeting[16];
  ASSERT_TRUE(asked.ReceiveExactly(greeting, sizeof(greeting)).ok());
  if (iterative()) {
    ASSERT_TRUE(idle.SendAll("waiting\n").ok());
  }
  server->process().Signal(SIGTERM);
  EXPECT_EQ(server->process().Wait(absl::Seconds(10)), 0);
  EXPECT_TRUE(ClosedByServer(busy));
  EXPECT_TRUE(ClosedByServer(idle));
  EXPECT_TRUE(ClosedByServer(asked));
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("received SIGTERM"));
  EXPECT_THAT(log, HasSubstr("closed: the server is shutting down"));
  EXPECT_THAT(log, HasSubstr("server stopped"));
}

TEST_P(ServerModelProcessTest, ShutdownDeliversRepliesAlreadyOwed) {
  // A client that has not read its echo yet still gets what was echoed.
  auto server = ServerProcess::Start({"echo"}, {ModelFlag(), "--shutdown_grace=5s"});
  ASSERT_TRUE(server.ok()) << server.status();
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  const std::string data(2 << 20, 'd');
  std::thread sender([&] { client.SendAll(data).IgnoreError(); });
  std::string first(4096, '\0');
  ASSERT_TRUE(client.ReceiveExactly(first.data(), first.size()).ok());
  server->process().Signal(SIGTERM);
  size_t got = first.size();
  std::string chunk(65536, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = client.ReceiveSome(chunk.data(), chunk.size());
    if (!n.ok() || *n == 0) break;
    got += *n;
  }
  sender.join();
  client.Close();
  EXPECT_EQ(server->process().Wait(absl::Seconds(10)), 0);
  EXPECT_LE(got, data.size());
}

TEST_P(ServerModelProcessTest, IdleTimeoutAndMaxConnectionsAreLogged) {
  auto server =
      ServerProcess::Start({"echo"}, {ModelFlag(), "--idle_timeout=1s", "--max_connections=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Socket silent = ConnectTo("127.0.0.1", server->port("echo"));
    if (!iterative()) {
      // The slot is taken: a second client is accepted and closed at once.
      Socket extra = ConnectTo("127.0.0.1", server->port("echo"));
      EXPECT_TRUE(ClosedByServer(extra));
    }
    EXPECT_TRUE(ClosedByServer(silent));
  }
  EXPECT_EQ(server->Stop(), 0);
  const std::string log = server->process().Stderr();
  EXPECT_THAT(log, HasSubstr("closed: idle for 1s (nothing received)"));
  if (!iterative()) {
    EXPECT_THAT(log, HasSubstr("the --max_connections limit; closing it"));
  }
}

TEST_P(ServerModelProcessTest, ChatStillAnswersOnTheMainLoop) {
  auto server = ServerProcess::Start({"echo", "chat"}, {ModelFlag()});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Socket> udp = Socket::Create(AF_INET, SOCK_DGRAM);
  ASSERT_TRUE(udp.ok());
  ASSERT_TRUE(udp->Bind(*InetAddress::Parse("127.0.0.1", 0)).ok());
  ASSERT_TRUE(udp->SetReceiveTimeout(absl::Seconds(10)).ok());
  const InetAddress chat = *InetAddress::Parse("127.0.0.1", server->port("chat"));
  const std::string join = "JOIN tester";
  ASSERT_EQ(::sendto(udp->fd(), join.data(), join.size(), 0, chat.sockaddr_ptr(), chat.length()),
            static_cast<ssize_t>(join.size()));
  char reply[1500];
  const ssize_t n = ::recv(udp->fd(), reply, sizeof(reply), 0);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(reply, n), ::testing::StartsWith("COOKIE "));
  // A TCP client is served meanwhile.
  Socket client = ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(Echo(client, "tcp too\n"), "tcp too\n");
  client.Close();
  EXPECT_EQ(server->Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Models, ServerModelProcessTest, ::testing::Values("blocking", "iterative"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(ServerModelFlagTest, AnUnknownModelIsAStartupError) {
  for (const char* flag : {"--model=threads", "--model=Blocking", "--model="}) {
    auto child = ChildProcess::Start(
        {RunfilePath("services/server"), "--services=echo", "--echo_port=0", flag});
    ASSERT_TRUE(child.ok()) << child.status();
    EXPECT_EQ(child->Wait(absl::Seconds(30)), 2) << flag;
    EXPECT_EQ(child->ReadAll(absl::Seconds(1)), "") << flag;
    const std::string err = child->Stderr();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << flag << ": " << err;
    EXPECT_THAT(err, HasSubstr("--model")) << flag;
  }
}

}  // namespace
}  // namespace switchboard
