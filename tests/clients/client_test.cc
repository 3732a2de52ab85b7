// Copyright Switchboard authors.
//
// End-to-end tests of the interactive client (//clients:client) against the
// real server (//services:server): through pipes, through a pseudo-terminal
// (where it asks for host and port), from chosen source addresses, and when
// nobody listens.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int CountOf(absl::string_view text, absl::string_view part) {
  int count = 0;
  for (size_t at = text.find(part); at != absl::string_view::npos;
       at = text.find(part, at + part.size())) {
    ++count;
  }
  return count;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { IgnoreSigpipe(); }

  // Starts the server with echo (and `flags`); fails the test if it cannot.
  void StartServer(const std::vector<std::string>& flags = {}) {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({"echo"}, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    port_ = server_->port("echo");
    ASSERT_GT(port_, 0);
  }

  std::vector<std::string> ClientArgs(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {ClientPath(), "--host=127.0.0.1",
                                     absl::StrCat("--port=", port_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  std::string ServerLog() { return server_->process().Stderr(); }

  std::optional<ServerProcess> server_;
  int port_ = 0;
};

// --- Through pipes -----------------------------------------------------------

TEST_F(ClientTest, EchoesSeveralLinesInOrderUntilEndOfInput) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string input = "one\ntwo\nthree four\n\nfive\n";
  RunResult run = RunWithInput(ClientArgs(), input);
  EXPECT_EQ(run.out, input) << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("end of input")) << run.err;
}

TEST_F(ClientTest, LastLineWithoutNewlineIsSent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs(), "one\nlast");
  // Raw framing sends each line with its "\n".
  EXPECT_EQ(run.out, "one\nlast\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
}

TEST_F(ClientTest, EmptyInputConnectsAndEndsCleanly) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs(), "");
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.status, 0) << run.err;
}

TEST_F(ClientTest, ExitEndsSessionAndLaterLinesAreNotSent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs(), "one\nexit\nafter\nmore\n");
  EXPECT_EQ(run.out, "one\nexit\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  // "one\n" and "exit\n" only: 9 bytes went out, and the server saw 9.
  EXPECT_THAT(run.err, HasSubstr("sent 9 bytes, received 9")) << run.err;
  EXPECT_EQ(CountOf(run.err, "] sent "), 3) << run.err;  // 2 lines + "sent exit"
  EXPECT_TRUE(Eventually([&] { return ServerLog(); }, "received 9 bytes, sent 9 bytes"))
      << ServerLog();
}

TEST_F(ClientTest, ExitEndsSessionWithoutEndOfInput) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  absl::StatusOr<ChildProcess> client = ChildProcess::Start(ClientArgs());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->WriteStdin("hello\n").ok());
  // The reply shows up while the input is still open.
  absl::StatusOr<std::string> line = client->ReadLine(kTimeout);
  ASSERT_TRUE(line.ok()) << line.status() << "\n" << client->Stderr();
  EXPECT_EQ(*line, "hello");
  ASSERT_TRUE(client->WriteStdin("exit\n").ok());
  line = client->ReadLine(kTimeout);
  ASSERT_TRUE(line.ok()) << line.status() << "\n" << client->Stderr();
  EXPECT_EQ(*line, "exit");
  // The server closes; the client ends by itself, stdin still open.
  EXPECT_EQ(client->Wait(kTimeout), 0) << client->Stderr();
  EXPECT_EQ(client->ReadAll(kTimeout), "");
  EXPECT_THAT(client->Stderr(), HasSubstr("disconnected"));
}

TEST_F(ClientTest, ExitWithCarriageReturnEndsSession) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs(), "one\r\nexit\r\nafter\r\n");
  EXPECT_EQ(run.out, "one\r\nexit\r\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
}

TEST_F(ClientTest, LineFraming) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=line"}));
  RunResult run = RunWithInput(ClientArgs({"--framing=line"}), "alpha\nbeta gamma\r\nlast\n");
  // Each echoed message is printed as a line (the "\r" is not part of it).
  EXPECT_EQ(run.out, "alpha\nbeta gamma\nlast\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("(line framing)"));
}

TEST_F(ClientTest, LineFramingTooLongLineGets400) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=line"}));
  RunResult run = RunWithInput(ClientArgs({"--framing=line"}),
                               "short\n" + std::string(5000, 'x') + "\nnever\n");
  EXPECT_EQ(run.out, "short\n400 line too long\n") << run.err;
  ASSERT_TRUE(run.status.has_value()) << "the client hung";
  EXPECT_THAT(run.err, HasSubstr("disconnected"));
}

TEST_F(ClientTest, LengthFraming) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=length"}));
  RunResult run = RunWithInput(ClientArgs({"--framing=length"}), "alpha\nbeta gamma\n\nlast\n");
  // A raw client would have sent "alph" as a length of 1.6 GB and got
  // nothing back: getting the lines proves both sides framed them.
  EXPECT_EQ(run.out, "alpha\nbeta gamma\n\nlast\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("(length framing)"));
  // 4-byte headers: 4+5, 4+10, 4+0, 4+4.
  EXPECT_THAT(run.err, HasSubstr("sent 35 bytes, received 35")) << run.err;
}

TEST_F(ClientTest, LengthFramingExitEndsSession) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=length"}));
  RunResult run = RunWithInput(ClientArgs({"--framing=length"}), "one\nexit\nafter\n");
  EXPECT_EQ(run.out, "one\nexit\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
}

TEST_F(ClientTest, HundredKilobyteLineRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string line;
  line.reserve(100 * 1024);
  for (int i = 0; line.size() < 100 * 1024; ++i) line += static_cast<char>('a' + i % 26);
  const std::string input = line + "\nsmall\n";
  RunResult run = RunWithInput(ClientArgs(), input);
  ASSERT_EQ(run.out.size(), input.size()) << run.err.substr(0, 2000);
  EXPECT_TRUE(run.out == input);
  EXPECT_EQ(run.status, 0) << run.err;
}

TEST_F(ClientTest, ServerClosingFirstEndsTheClientAtOnce) {
  // The server drops idle connections after 300 ms; the client, whose input
  // stays open, must notice by itself rather than wait for a line to send.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--idle_timeout=300ms"}));
  absl::StatusOr<ChildProcess> client = ChildProcess::Start(ClientArgs());
  ASSERT_TRUE(client.ok()) << client.status();
  const std::optional<int> status = client->Wait(kTimeout);
  ASSERT_TRUE(status.has_value()) << "the client did not notice the server closing\n"
                                  << client->Stderr();
  EXPECT_THAT(client->Stderr(), HasSubstr("disconnected"));
  EXPECT_TRUE(Eventually([&] { return ServerLog(); }, "closed")) << ServerLog();
}

// --- Source addresses --------------------------------------------------------

TEST_F(ClientTest, BindPicksTheSourceAddress) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Two clients at once, from two addresses.
  absl::StatusOr<ChildProcess> two = ChildProcess::Start(ClientArgs({"--bind=127.0.0.2"}));
  ASSERT_TRUE(two.ok()) << two.status();
  absl::StatusOr<ChildProcess> three = ChildProcess::Start(ClientArgs({"--bind=127.0.0.3"}));
  ASSERT_TRUE(three.ok()) << three.status();

  ASSERT_TRUE(two->WriteStdin("from two\n").ok());
  ASSERT_TRUE(three->WriteStdin("from three\n").ok());
  absl::StatusOr<std::string> line = two->ReadLine(kTimeout);
  ASSERT_TRUE(line.ok()) << line.status() << two->Stderr();
  EXPECT_EQ(*line, "from two");
  line = three->ReadLine(kTimeout);
  ASSERT_TRUE(line.ok()) << line.status() << three->Stderr();
  EXPECT_EQ(*line, "from three");

  EXPECT_TRUE(Eventually([&] { return ServerLog(); }, "client 127.0.0.2:")) << ServerLog();
  EXPECT_TRUE(Eventually([&] { return ServerLog(); }, "client 127.0.0.3:")) << ServerLog();
  EXPECT_THAT(two->Stderr(), HasSubstr("from 127.0.0.2:"));
  EXPECT_THAT(three->Stderr(), HasSubstr("from 127.0.0.3:"));

  ASSERT_TRUE(two->WriteStdin("exit\n").ok());
  ASSERT_TRUE(three->WriteStdin("exit\n").ok());
  EXPECT_EQ(two->Wait(kTimeout), 0) << two->Stderr();
  EXPECT_EQ(three->Wait(kTimeout), 0) << three->Stderr();
}

TEST_F(ClientTest, BindToAnAddressOfTheOtherFamilyFails) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs({"--bind=::1"}), "hello\n");
  EXPECT_NE(run.status, 0);
  EXPECT_THAT(run.err, HasSubstr("cannot connect")) << run.err;
  EXPECT_EQ(run.out, "");
}

// --- Errors ------------------------------------------------------------------

// The non-empty lines of `text`.
std::vector<std::string> Lines(absl::string_view text) {
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripSuffix(text, "\n"), '\n', absl::SkipEmpty());
  return lines;
}

TEST_F(ClientTest, CannotConnectSaysSoInOneLine) {
  const int port = UnusedTcpPort();
  ASSERT_GT(port, 0);
  RunResult run =
      RunWithInput({ClientPath(), "--host=127.0.0.1", absl::StrCat("--port=", port)}, "hello\n");
  ASSERT_TRUE(run.status.has_value()) << "the client hung";
  EXPECT_NE(*run.status, 0);
  EXPECT_EQ(run.out, "");
  const std::vector<std::string> lines = Lines(run.err);
  ASSERT_EQ(lines.size(), 1u) << run.err;
  EXPECT_THAT(lines[0], HasSubstr("cannot connect"));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat(port)));
  EXPECT_THAT(lines[0], HasSubstr("refused"));
}

TEST_F(ClientTest, UnresolvableHostFlagFails) {
  RunResult run =
      RunWithInput({ClientPath(), "--host=no-such-host.invalid", "--port=7007"}, "hello\n");
  ASSERT_TRUE(run.status.has_value()) << "the client hung";
  EXPECT_NE(*run.status, 0);
  const std::vector<std::string> lines = Lines(run.err);
  ASSERT_EQ(lines.size(), 1u) << run.err;
  EXPECT_THAT(lines[0], HasSubstr("no-such-host.invalid"));
}

TEST_F(ClientTest, BadPortFlagFails) {
  for (const char* flag : {"--port=0", "--port=70000", "--port=-1"}) {
    RunResult run = RunWithInput({ClientPath(), "--host=127.0.0.1", flag}, "hello\n");
    ASSERT_TRUE(run.status.has_value()) << flag << ": the client hung";
    EXPECT_NE(*run.status, 0) << flag;
    const std::vector<std::string> lines = Lines(run.err);
    ASSERT_EQ(lines.size(), 1u) << flag << ": " << run.err;
    EXPECT_THAT(lines[0], HasSubstr("port")) << flag;
  }
}

TEST_F(ClientTest, BadFramingOrServiceFlagFails) {
  for (const char* flag : {"--framing=bogus", "--service=bogus"}) {
    RunResult run =
        RunWithInput({ClientPath(), "--host=127.0.0.1", "--port=7007", flag}, "hello\n");
    ASSERT_TRUE(run.status.has_value()) << flag << ": the client hung";
    EXPECT_NE(*run.status, 0) << flag;
    EXPECT_THAT(run.err, HasSubstr("bogus")) << flag;
  }
}

// --- Events ------------------------------------------------------------------

TEST_F(ClientTest, LogsItsEvents) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunWithInput(ClientArgs(), "hello\n");
  EXPECT_EQ(run.status, 0) << run.err;
  const std::string& log = run.err;
  EXPECT_THAT(log, HasSubstr(absl::StrCat("connected to echo at 127.0.0.1:", port_)));
  EXPECT_THAT(log, HasSubstr("sent 6 bytes"));
  EXPECT_THAT(log, HasSubstr("received 6 bytes"));
  EXPECT_THAT(log, HasSubstr("disconnected"));
  // In that order.
  const size_t connected = log.find("connected to");
  const size_t sent = log.find("sent 6 bytes");
  const size_t received = log.find("received 6 bytes");
  const size_t disconnected = log.find("disconnected");
  EXPECT_LT(connected, sent);
  EXPECT_LT(sent, received);
  EXPECT_LT(received, disconnected);
  // Events go to stderr, never mixed into the replies.
  EXPECT_EQ(run.out, "hello\n");
}

// --- At a terminal -----------------------------------------------------------

TEST_F(ClientTest, AtATerminalAsksForHostAndPort) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> client = ChildProcess::Start({ClientPath()}, options);
  ASSERT_TRUE(client.ok()) << client.status();
  OutputReader screen(&*client);

  ASSERT_TRUE(screen.WaitFor("Host [127.0.0.1]: ")) << screen.all() << client->Stderr();
  ASSERT_TRUE(client->WriteStdin("no-such-host.invalid\n").ok());
  ASSERT_TRUE(screen.WaitFor("please try again")) << screen.all();
  ASSERT_TRUE(screen.WaitFor("Host [127.0.0.1]: ")) << screen.all();
  EXPECT_THAT(screen.all(), HasSubstr("no-such-host.invalid"));
  ASSERT_TRUE(client->WriteStdin("\n").ok());  // the default

  ASSERT_TRUE(screen.WaitFor("Port [7007]: ")) << screen.all();
  ASSERT_TRUE(client->WriteStdin("abc\n").ok());
  ASSERT_TRUE(screen.WaitFor("'abc' is not a port number")) << screen.all();
  ASSERT_TRUE(screen.WaitFor("Port [7007]: ")) << screen.all();
  ASSERT_TRUE(client->WriteStdin("70000\n").ok());
  ASSERT_TRUE(screen.WaitFor("outside 1..65535")) << screen.all();
  ASSERT_TRUE(screen.WaitFor("Port [7007]: ")) << screen.all();
  ASSERT_TRUE(client->WriteStdin(absl::StrCat(port_, "\n")).ok());

  ASSERT_TRUE(Eventually([&] { return client->Stderr(); },
                         absl::StrCat("connected to echo at 127.0.0.1:", port_)))
      << client->Stderr() << screen.all();
  // The terminal echoes what we type, then the client prints the reply.
  ASSERT_TRUE(client->WriteStdin("hello from a terminal\n").ok());
  ASSERT_TRUE(screen.WaitFor("hello from a terminal")) << screen.all();
  ASSERT_TRUE(screen.WaitFor("hello from a terminal")) << screen.all() << client->Stderr();
  EXPECT_TRUE(Eventually([&] { return client->Stderr(); }, "received 22 bytes"))
      << client->Stderr();

  ASSERT_TRUE(client->WriteStdin("exit\n").ok());
  EXPECT_EQ(client->Wait(kTimeout), 0) << client->Stderr() << screen.all();
  ASSERT_TRUE(screen.WaitFor("exit")) << screen.all();  // as typed
  ASSERT_TRUE(screen.WaitFor("exit")) << screen.all();  // as echoed
  const std::string log = client->Stderr();
  EXPECT_THAT(log, HasSubstr("sent 22 bytes"));
  EXPECT_THAT(log, HasSubstr("sent 5 bytes"));
  EXPECT_THAT(log, HasSubstr("disconnected"));
  EXPECT_TRUE(Eventually([&] { return ServerLog(); }, "client 127.0.0.1:")) << ServerLog();
}

TEST_F(ClientTest, AtATerminalFlagsAreNotAskedFor) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> client = ChildProcess::Start(ClientArgs(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  OutputReader screen(&*client);
  ASSERT_TRUE(Eventually([&] { return client->Stderr(); }, "connected to echo"))
      << client->Stderr();
  ASSERT_TRUE(client->WriteStdin("ping\n").ok());
  ASSERT_TRUE(screen.WaitFor("ping")) << screen.all();
  ASSERT_TRUE(screen.WaitFor("ping")) << screen.all();
  ASSERT_TRUE(client->WriteStdin("exit\n").ok());
  EXPECT_EQ(client->Wait(kTimeout), 0) << client->Stderr();
  EXPECT_THAT(screen.all(), Not(HasSubstr("Host [")));
  EXPECT_THAT(screen.all(), Not(HasSubstr("Port [")));
}

TEST_F(ClientTest, AtATerminalEndOfInputWhileAskingFails) {
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> client = ChildProcess::Start({ClientPath()}, options);
  ASSERT_TRUE(client.ok()) << client.status();
  OutputReader screen(&*client);
  ASSERT_TRUE(screen.WaitFor("Host [127.0.0.1]: ")) << screen.all();
  ASSERT_TRUE(client->WriteStdin("\x04").ok());  // Ctrl-D: end of input
  const std::optional<int> status = client->Wait(kTimeout);
  ASSERT_TRUE(status.has_value()) << "the client kept waiting";
  EXPECT_NE(*status, 0);
  EXPECT_THAT(client->Stderr(), HasSubstr("end of input"));
}

}  // namespace
}  // namespace switchboard::testing

// --- identity and auth -------------------------------------------------------

namespace switchboard::testing {
namespace {

TEST(ClientServicesTest, IdentityDialogueThroughTheClient) {
  IgnoreSigpipe();
  absl::StatusOr<ServerProcess> server = ServerProcess::Start({"identity"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::string> argv = {ClientPath(), "--service=identity", "--host=127.0.0.1",
                                         absl::StrCat("--port=", server->port("identity")),
                                         "--bind=127.0.9.1"};
  RunResult first = RunWithInput(argv, "Ada\nNAME Ada Lovelace\nexit\n");
  EXPECT_EQ(first.out,
            "300 Hello, stranger. What is your name?\n"
            "201 Nice to meet you, Ada!\n"
            "200 Renamed to Ada Lovelace.\n"
            "221 Bye, Ada Lovelace.\n")
      << first.err;
  EXPECT_EQ(first.status, 0) << first.err;
  RunResult second = RunWithInput(argv, "exit\n");
  EXPECT_EQ(second.out, "200 Hello, Ada Lovelace!\n221 Bye, Ada Lovelace.\n") << second.err;
}

TEST(ClientServicesTest, AuthTokenIsKeptAndResumedOnTheNextRun) {
  IgnoreSigpipe();
  absl::StatusOr<ServerProcess> server = ServerProcess::Start({"auth"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string token_file = TempPath("token") + "/token";
  const std::vector<std::string> argv = {
      ClientPath(),       "--service=auth",
      "--host=127.0.0.1", absl::StrCat("--port=", server->port("auth")),
      "--bind=127.0.9.2", "--token_file=" + token_file};
  RunResult first = RunWithInput(argv, "REGISTER ada correct-horse\nexit\n");
  EXPECT_THAT(first.out, HasSubstr("201 registered ada; session ")) << first.err;
  EXPECT_THAT(first.err, HasSubstr("session token saved in " + token_file));

  // The next run resumes without being asked to.
  RunResult second = RunWithInput(argv, "WHOAMI\nLOGOUT\nexit\n");
  EXPECT_EQ(second.out,
            "220 auth ready; known as ada: LOGIN <password>\n"
            "200 welcome back ada\n"
            "200 ada\n"
            "200 logged out\n"
            "221 Bye.\n")
      << second.err;
  EXPECT_THAT(second.err, HasSubstr("session token removed"));

  // Logged out: nothing to resume.
  RunResult third = RunWithInput(argv, "WHOAMI\nexit\n");
  EXPECT_EQ(third.out,
            "220 auth ready; known as ada: LOGIN <password>\n"
            "401 not logged in\n"
            "221 Bye.\n")
      << third.err;
}

}  // namespace
}  // namespace switchboard::testing
