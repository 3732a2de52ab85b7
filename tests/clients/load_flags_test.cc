// Copyright Switchboard authors.
//
// The load generator (//clients:load) facing bad input: flags it cannot use
// (one line, status 2), scenarios given what their services cannot take, --help, and
// targets that cannot be reached (a clear message, the figures, status 1).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/clients/load_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/loopback.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

RunResult RunLoad(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {RunfilePath("clients/load")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return RunWithInput(argv, "", absl::Seconds(60));
}

class LoadFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override { IgnoreSigpipe(); }
};

TEST_F(LoadFlagsTest, BadFlagsGetOneLineAndStatusTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {"--connections=0"},
      {"--size=0"},
      {"--depth=0"},
      {"--threads=0"},
      {"--duration=forever"},
      {"--duration=0s"},
      {"--warmup=-1s"},
      {"--timeout=soon"},
      {"--rate=-5"},
      {"--connect_rate=-1"},
      {"--framing=xml"},
      {"--framing=line", "--size=5000"},
      {"--framing=length", "--size=2000000"},
      {"--scenario=ftp"},
      {"--target=localhost"},
      {"--target=127.0.0.1:0"},
      {"--target=127.0.0.1:70000"},
      {"--target=[::1"},
      {"--poller=carrier-pigeon"},
      {"--server_pid=2147483647"},
      {"--no_such_flag=1"},
      {"--connections=many"},
      {"stray-argument"},
  };
  for (const std::vector<std::string>& flags : cases) {
    const std::string what = absl::StrJoin(flags, " ");
    RunResult run = RunLoad(flags);
    EXPECT_EQ(run.status, 2) << what << "\n" << run.out << run.err;
    EXPECT_EQ(run.out, "") << what;
    const absl::string_view err = absl::StripTrailingAsciiWhitespace(run.err);
    EXPECT_FALSE(err.empty()) << what;
    EXPECT_FALSE(absl::StrContains(err, '\n')) << what << ": more than one line:\n" << run.err;
  }
}

TEST_F(LoadFlagsTest, AuthAndChatRefuseWhatTheirServicesCannotTake) {
  const std::vector<std::vector<std::string>> cases = {
      {"--scenario=auth", "--framing=raw"},
      {"--scenario=chat", "--size=10"},
      {"--scenario=chat", "--size=2000"},
  };
  for (const std::vector<std::string>& flags : cases) {
    const std::string what = absl::StrJoin(flags, " ");
    RunResult run = RunLoad(flags);
    EXPECT_EQ(run.status, 2) << what << "\n" << run.out << run.err;
    EXPECT_EQ(run.out, "") << what;
    const absl::string_view err = absl::StripTrailingAsciiWhitespace(run.err);
    EXPECT_FALSE(err.empty()) << what;
    EXPECT_FALSE(absl::StrContains(err, '\n')) << what << ": more than one line:\n" << run.err;
  }
}

TEST_F(LoadFlagsTest, HelpDocumentsEveryFlag) {
  RunResult run = RunLoad({"--help"});
  EXPECT_EQ(run.status, 0) << run.err;
  const std::string help = run.out + run.err;
  for (const char* flag : {"-target", "-connections", "-size", "-duration", "-warmup", "-depth",
                           "-rate", "-connect_rate", "-framing", "-scenario", "-json",
                           "-server_pid", "-threads", "-timeout", "-poller"}) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat(flag, " ("))) << flag << "\n" << help;
  }
  EXPECT_THAT(help, HasSubstr("coordinated")) << "--rate explains what it measures";
  for (const char* scenario :
       {"--scenario=auth", "--scenario=chat", "logins/s", "loss", "chat_rate"}) {
    EXPECT_THAT(help, HasSubstr(scenario)) << "the scenarios are explained\n" << help;
  }
}

TEST_F(LoadFlagsTest, RefusedConnectionsFailClearlyWithTheFigures) {
  const int port = UnusedTcpPort();
  ASSERT_GT(port, 0);
  RunResult run = RunLoad({absl::StrCat("--target=127.0.0.1:", port), "--connections=4",
                           "--duration=5s", "--warmup=0s"});
  EXPECT_EQ(run.status, 1) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("no connection could be opened")) << run.err;
  EXPECT_THAT(run.err, HasSubstr("Connection refused")) << run.err;
  // The figures, such as they are.
  EXPECT_THAT(run.out, HasSubstr("messages:   0")) << run.out;
  EXPECT_THAT(run.out, HasSubstr("errors:     4 (connect 4)")) << run.out;
}

TEST_F(LoadFlagsTest, RefusedConnectionsInJson) {
  const int port = UnusedTcpPort();
  ASSERT_GT(port, 0);
  RunResult run = RunLoad(
      {absl::StrCat("--target=127.0.0.1:", port), "--connections=2", "--duration=5s", "--json"});
  EXPECT_EQ(run.status, 1) << run.out << run.err;
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << run.out;
  EXPECT_EQ(json.Type("$.completed"), "false");
  EXPECT_EQ(json.Number("$.errors.connect"), 2.0) << run.out;
  EXPECT_EQ(json.Number("$.messages"), 0.0) << run.out;
  EXPECT_THAT(json.Text("$.first_errors.connect").value_or(""), HasSubstr("refused"));
}

// 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed. Depending on the
// machine the connect fails at once (no route) or hears nothing until
// --timeout; either way the run ends early, clearly, and with status 1.
TEST_F(LoadFlagsTest, UnreachableTargetFailsClearly) {
  RunResult run = RunLoad({"--target=192.0.2.1:9", "--connections=2", "--timeout=300ms",
                           "--warmup=0s", "--duration=20s"});
  EXPECT_EQ(run.status, 1) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("no connection could be opened")) << run.err;
  EXPECT_THAT(run.err, HasSubstr("connect to 192.0.2.1:9")) << run.err;
  EXPECT_THAT(run.out, HasSubstr("(connect 2)")) << run.out;
}

}  // namespace
}  // namespace switchboard::testing
