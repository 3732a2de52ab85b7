// Copyright Switchboard authors.
//
// End-to-end tests of the load generator's auth and chat scenarios
// (//clients:load --scenario=auth|chat) on loopback, against the real
// server (--pwhash_cost=min, the test default): logins without errors in
// either framing, an auth load pointed at the echo service, chat members
// that receive every broadcast, ERR replies counted by code, and a chat
// target where nobody answers. Every wait is bounded; no assertion depends
// on how fast anything is.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/clients/load_test_util.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

// Runs take a few seconds; sanitizers make everything slower.
constexpr absl::Duration kRunTimeout = absl::Seconds(90);

RunResult RunLoad(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {RunfilePath("clients/load")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return RunWithInput(argv, "", kRunTimeout);
}

std::string Describe(const RunResult& run) {
  return absl::StrCat("stdout:\n", run.out, "\nstderr:\n", run.err);
}

double NumberAt(const JsonDocument& json, absl::string_view path) {
  std::optional<double> value = json.Number(path);
  EXPECT_TRUE(value.has_value()) << "no number at " << path;
  return value.value_or(-1);
}

// Latency percentiles present and in order (all 0 when nothing was timed).
void ExpectOrderedLatencies(const JsonDocument& json, const std::string& out) {
  const double p50 = NumberAt(json, "$.latency_ns.p50");
  EXPECT_LE(NumberAt(json, "$.latency_ns.min"), p50) << out;
  EXPECT_LE(p50, NumberAt(json, "$.latency_ns.p90")) << out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.p90"), NumberAt(json, "$.latency_ns.p99")) << out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.p99"), NumberAt(json, "$.latency_ns.p99_9")) << out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.p99_9"), NumberAt(json, "$.latency_ns.max")) << out;
}

class LoadScenariosTest : public ::testing::Test {
 protected:
  void SetUp() override { IgnoreSigpipe(); }

  // Starts the server with `services` (and `flags`); `target` then names
  // the port of `service`.
  void StartServer(const std::vector<std::string>& services, const std::string& service,
                   const std::vector<std::string>& flags = {}) {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(services, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    target_ = absl::StrCat("--target=127.0.0.1:", server_->port(service));
  }

  std::optional<ServerProcess> server_;
  std::string target_;
};

// --- auth ------------------------------------------------------------------------

TEST_F(LoadScenariosTest, AuthLogsInWithoutErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"auth"}, "auth"));
  RunResult run = RunLoad(
      {"--scenario=auth", target_, "--connections=3", "--duration=1s", "--warmup=300ms", "--json"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(json.Text("$.scenario"), "auth");
  EXPECT_EQ(json.Text("$.unit"), "logins");
  EXPECT_EQ(json.Text("$.framing"), "line");
  EXPECT_TRUE(json.Text("$.run_id").has_value()) << run.out;
  EXPECT_EQ(json.Type("$.completed"), "true") << run.out;
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.connections_opened"), 3) << run.out;
  EXPECT_GT(NumberAt(json, "$.messages"), 0) << run.out;
  EXPECT_GT(NumberAt(json, "$.messages_per_second"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.bytes"), 0) << run.out;
  EXPECT_GT(NumberAt(json, "$.latency_ns.p50"), 0) << run.out;
  ExpectOrderedLatencies(json, run.out);
}

TEST_F(LoadScenariosTest, AuthInLengthFramingAndOnASchedule) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"auth"}, "auth", {"--auth_framing=length"}));
  RunResult run = RunLoad({"--scenario=auth", target_, "--framing=length", "--connections=2",
                           "--rate=40", "--depth=2", "--duration=1s", "--warmup=300ms", "--json"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(json.Text("$.framing"), "length");
  EXPECT_EQ(json.Type("$.open_loop"), "true");
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << run.out;
  EXPECT_GT(NumberAt(json, "$.messages"), 0) << run.out;
}

TEST_F(LoadScenariosTest, AuthTextSummarySpeaksOfLogins) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"auth"}, "auth"));
  RunResult run =
      RunLoad({"--scenario=auth", target_, "--connections=2", "--duration=1s", "--warmup=200ms"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  for (const char* part : {"load: auth at", "the unit is the login", "logins:", "logins/s",
                           "latency:", "p99 ", "errors:     0"}) {
    EXPECT_THAT(run.out, HasSubstr(part)) << run.out;
  }
}

// The echo service echoes the REGISTER line instead of greeting: every
// connection fails its opening, and the run fails.
TEST_F(LoadScenariosTest, AuthAgainstTheEchoServiceFails) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"echo"}, "echo"));
  RunResult run = RunLoad(
      {"--scenario=auth", target_, "--connections=2", "--duration=2s", "--warmup=200ms", "--json"});
  EXPECT_EQ(run.status, 1) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(json.Type("$.completed"), "false") << run.out;
  EXPECT_GE(NumberAt(json, "$.errors.mismatch"), 1) << run.out;
  EXPECT_EQ(NumberAt(json, "$.messages"), 0) << run.out;
  EXPECT_THAT(json.Text("$.first_errors.mismatch").value_or(""), HasSubstr("greeting")) << run.out;
  EXPECT_THAT(run.err, HasSubstr("error(s)")) << run.err;
}

// --- chat ------------------------------------------------------------------------

TEST_F(LoadScenariosTest, ChatMembersReceiveEveryBroadcast) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"chat"}, "chat"));
  RunResult run = RunLoad({"--scenario=chat", target_, "--connections=5", "--rate=50",
                           "--duration=1s", "--warmup=500ms", "--json"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(json.Text("$.scenario"), "chat");
  EXPECT_EQ(json.Text("$.unit"), "messages");
  EXPECT_EQ(json.Type("$.completed"), "true") << run.out;
  EXPECT_EQ(json.Type("$.open_loop"), "true") << run.out;
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.members"), 5) << run.out;
  EXPECT_EQ(NumberAt(json, "$.connections_opened"), 5) << run.out;
  const double sent = NumberAt(json, "$.messages");
  const double delivered = NumberAt(json, "$.deliveries");
  EXPECT_GT(sent, 0) << run.out;
  // Every member, the sender included, receives each message once. UDP
  // may lose a datagram, but not on an idle loopback: 10% is slack.
  EXPECT_LE(delivered, sent * 5) << run.out;
  EXPECT_GE(delivered, 0.9 * sent * 5) << run.out;
  EXPECT_LE(NumberAt(json, "$.expected_deliveries"), sent * 5) << run.out;
  EXPECT_GE(NumberAt(json, "$.expected_deliveries"), delivered) << run.out;
  EXPECT_EQ(NumberAt(json, "$.lost"), NumberAt(json, "$.expected_deliveries") - delivered)
      << run.out;
  for (const char* key :
       {"$.messages_per_second", "$.deliveries_per_second", "$.loss_ratio", "$.size", "$.rate"}) {
    EXPECT_GE(NumberAt(json, key), 0) << key << "\n" << run.out;
  }
  EXPECT_GT(NumberAt(json, "$.latency_ns.p50"), 0) << run.out;
  ExpectOrderedLatencies(json, run.out);
  EXPECT_EQ(json.Type("$.rejected_by_code"), "object") << run.out;
}

TEST_F(LoadScenariosTest, ChatTextSummary) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"chat"}, "chat"));
  RunResult run = RunLoad({"--scenario=chat", target_, "--connections=3", "--rate=30",
                           "--duration=1s", "--warmup=300ms"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  for (const char* part : {"load: chat at", "sent:", "delivered:", "expected", "lost", "latency:",
                           "to each receipt", "errors:     0", "members:    3 of 3 joined"}) {
    EXPECT_THAT(run.out, HasSubstr(part)) << run.out;
  }
}

// A server that allows 5 commands/s per member (a burst of 2) answers most
// of 40 messages/s with ERR 429: errors of kind "rejected", by code.
TEST_F(LoadScenariosTest, ChatErrRepliesAreCountedByCode) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"chat"}, "chat", {"--chat_rate=5"}));
  RunResult run = RunLoad({"--scenario=chat", target_, "--connections=2", "--rate=80",
                           "--duration=1s", "--warmup=200ms", "--json"});
  EXPECT_EQ(run.status, 1) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_GE(NumberAt(json, "$.errors.rejected"), 1) << run.out;
  EXPECT_EQ(NumberAt(json, "$.errors.rejected"), NumberAt(json, "$.rejected_by_code.\"ERR 429\""))
      << run.out;
  EXPECT_THAT(json.Text("$.first_errors.rejected").value_or(""), HasSubstr("ERR 429")) << run.out;
  // What got through was still delivered and counted.
  EXPECT_GT(NumberAt(json, "$.deliveries"), 0) << run.out;
  EXPECT_GT(NumberAt(json, "$.lost"), 0) << run.out;
  EXPECT_THAT(run.err, HasSubstr("chat_rate")) << "the note about the server's limit";
}

// Nothing answers on the echo port over UDP: every join times out.
TEST_F(LoadScenariosTest, ChatWithNobodyAnsweringFailsClearly) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"echo"}, "echo"));
  RunResult run = RunLoad({"--scenario=chat", target_, "--connections=2", "--timeout=500ms",
                           "--duration=5s", "--warmup=0s", "--json"});
  EXPECT_EQ(run.status, 1) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(NumberAt(json, "$.errors.timeout"), 2) << run.out;
  EXPECT_EQ(NumberAt(json, "$.connections_opened"), 0) << run.out;
  EXPECT_THAT(json.Text("$.stopped_because").value_or(""), HasSubstr("no member could join"))
      << run.out;
  EXPECT_LT(NumberAt(json, "$.measured_s"), 5) << run.out;
}

}  // namespace
}  // namespace switchboard::testing
