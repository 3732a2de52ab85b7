// Copyright Switchboard authors.
//
// End-to-end tests of the load generator (//clients:load) on loopback:
// against the real server (ping-pong, pipelined, each framing, its CPU
// time), against an echo stub that corrupts bytes, an open-loop run across a
// server paused with SIGSTOP, a server killed mid-run, and an interrupted
// run. Every wait is bounded; no assertion depends on how fast anything is.

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
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

std::string LoadPath() { return RunfilePath("clients/load"); }

std::vector<std::string> LoadArgs(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {LoadPath()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

// Runs the load generator to its end.
RunResult RunLoad(const std::vector<std::string>& flags) {
  return RunWithInput(LoadArgs(flags), "", kRunTimeout);
}

std::string Describe(const RunResult& run) {
  return absl::StrCat("stdout:\n", run.out, "\nstderr:\n", run.err);
}

double NumberAt(const JsonDocument& json, absl::string_view path) {
  std::optional<double> value = json.Number(path);
  EXPECT_TRUE(value.has_value()) << "no number at " << path;
  return value.value_or(-1);
}

// The checks every successful --json run passes.
void ExpectCleanJsonRun(const RunResult& run, int connections) {
  ASSERT_EQ(run.status, 0) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_EQ(json.Type("$.completed"), "true") << run.out;
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.connections_opened"), connections) << run.out;
  // Plausible, not fast: even a sanitized build on a busy machine echoes
  // more than a hundred messages in a second of loopback.
  EXPECT_GE(NumberAt(json, "$.messages"), 100) << run.out;
  EXPECT_GT(NumberAt(json, "$.messages_per_second"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.bytes"), NumberAt(json, "$.messages") * NumberAt(json, "$.size"))
      << run.out;
  const double p50 = NumberAt(json, "$.latency_ns.p50");
  const double p99 = NumberAt(json, "$.latency_ns.p99");
  const double max = NumberAt(json, "$.latency_ns.max");
  EXPECT_GT(p50, 0) << run.out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.min"), p50) << run.out;
  EXPECT_LE(p50, NumberAt(json, "$.latency_ns.p90")) << run.out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.p90"), p99) << run.out;
  EXPECT_LE(p99, NumberAt(json, "$.latency_ns.p99_9")) << run.out;
  EXPECT_LE(NumberAt(json, "$.latency_ns.p99_9"), max) << run.out;
}

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override { IgnoreSigpipe(); }

  void StartServer(const std::vector<std::string>& flags = {}) {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({"echo"}, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    target_ = absl::StrCat("--target=127.0.0.1:", server_->port("echo"));
  }

  std::optional<ServerProcess> server_;
  std::string target_;
};

// --- Against the real server -------------------------------------------------

TEST_F(LoadTest, PingPongHasNoErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run =
      RunLoad({target_, "--connections=4", "--duration=1s", "--warmup=200ms", "--json"});
  ExpectCleanJsonRun(run, 4);
  JsonDocument json(run.out);
  EXPECT_EQ(NumberAt(json, "$.depth"), 1);
  EXPECT_EQ(json.Type("$.open_loop"), "false");
  EXPECT_EQ(json.Text("$.scenario"), "echo");
  EXPECT_EQ(json.Text("$.framing"), "raw");
}

TEST_F(LoadTest, PipelinedDepthEightOverTwoThreadsHasNoErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunLoad({target_, "--connections=6", "--depth=8", "--threads=2", "--duration=1s",
                           "--warmup=200ms", "--json"});
  ExpectCleanJsonRun(run, 6);
  JsonDocument json(run.out);
  EXPECT_EQ(NumberAt(json, "$.depth"), 8);
  EXPECT_EQ(NumberAt(json, "$.threads"), 2);
}

TEST_F(LoadTest, LineFramingHasNoErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=line"}));
  RunResult run = RunLoad({target_, "--framing=line", "--size=4096", "--connections=3", "--depth=4",
                           "--duration=1s", "--warmup=100ms", "--json"});
  ExpectCleanJsonRun(run, 3);
}

TEST_F(LoadTest, LengthFramingHasNoErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--echo_framing=length"}));
  RunResult run = RunLoad({target_, "--framing=length", "--size=3000", "--connections=3",
                           "--depth=4", "--duration=1s", "--warmup=100ms", "--json"});
  ExpectCleanJsonRun(run, 3);
}

TEST_F(LoadTest, TinyAndLargeRawMessagesHaveNoErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (const char* size : {"--size=1", "--size=200000"}) {
    RunResult run = RunLoad({target_, size, "--connections=2", "--depth=3", "--duration=500ms",
                             "--warmup=0s", "--json"});
    ASSERT_EQ(run.status, 0) << size << "\n" << Describe(run);
    JsonDocument json(run.out);
    EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << run.out;
    EXPECT_GT(NumberAt(json, "$.messages"), 0) << run.out;
  }
}

TEST_F(LoadTest, TextSummaryAndOneProgressLinePerSecond) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunLoad({target_, "--connections=2", "--duration=2500ms", "--warmup=0s"});
  ASSERT_EQ(run.status, 0) << Describe(run);
  int progress_lines = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    if (absl::StrContains(line, " msg/s ") && absl::StrContains(line, " errors ")) {
      ++progress_lines;
    }
  }
  EXPECT_GE(progress_lines, 2) << run.out;
  EXPECT_EQ(run.out.find('\r'), std::string::npos) << "not a terminal: no \\r";
  for (const char* part : {"messages:", "msg/s", "MB/s", "latency:", "p50 ", "p90 ", "p99 ",
                           "p99.9 ", "max ", "errors:     0"}) {
    EXPECT_THAT(run.out, HasSubstr(part)) << run.out;
  }
}

TEST_F(LoadTest, ProgressIsRewrittenInPlaceAtATerminal) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> load = ChildProcess::Start(
      LoadArgs({target_, "--connections=2", "--duration=2500ms", "--warmup=0s"}), options);
  ASSERT_TRUE(load.ok()) << load.status();
  const std::string out = load->ReadAll(kRunTimeout);
  EXPECT_EQ(load->Wait(kTimeout), 0) << out << load->Stderr();
  EXPECT_THAT(out, HasSubstr("\r")) << out;
  EXPECT_THAT(out, HasSubstr("msg/s")) << out;
  EXPECT_THAT(out, HasSubstr("latency:")) << out;
}

TEST_F(LoadTest, ReportsTheServersCpuPerMessage) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RunResult run = RunLoad({target_, "--connections=2", "--duration=1s", "--warmup=100ms",
                           absl::StrCat("--server_pid=", server_->process().pid()), "--json"});
  ExpectCleanJsonRun(run, 2);
  JsonDocument json(run.out);
  EXPECT_GE(NumberAt(json, "$.server_cpu_us_per_message"), 0) << run.out;
  EXPECT_GE(NumberAt(json, "$.server_cpu_s"), 0) << run.out;
  EXPECT_EQ(NumberAt(json, "$.server_pid"), server_->process().pid());
}

// --- Byte verification ---------------------------------------------------------

TEST_F(LoadTest, CorruptedEchoesAreCountedAsErrors) {
  // One byte in 5000 comes back with a bit flipped: about one message in five.
  absl::StatusOr<std::unique_ptr<CorruptingEchoServer>> stub = CorruptingEchoServer::Start(5000);
  ASSERT_TRUE(stub.ok()) << stub.status();
  RunResult run = RunLoad({absl::StrCat("--target=127.0.0.1:", (*stub)->port()), "--connections=2",
                           "--duration=1s", "--warmup=0s", "--json"});
  EXPECT_EQ(run.status, 1) << Describe(run);
  JsonDocument json(run.out);
  ASSERT_TRUE(json.valid()) << Describe(run);
  EXPECT_GE(NumberAt(json, "$.errors.mismatch"), 1) << run.out;
  EXPECT_EQ(NumberAt(json, "$.errors.total"), NumberAt(json, "$.errors.mismatch")) << run.out;
  EXPECT_THAT(json.Text("$.first_errors.mismatch").value_or(""), HasSubstr("came back as"))
      << run.out;
  // The messages that came back right still count.
  EXPECT_GT(NumberAt(json, "$.messages"), 0) << run.out;
  EXPECT_GT((*stub)->flipped(), 0u);
  EXPECT_THAT(run.err, HasSubstr("error(s)")) << run.err;
}

TEST_F(LoadTest, AFaithfulStubPassesTheSameChecks) {
  // The same stub without corruption: the checks themselves are not what fails.
  absl::StatusOr<std::unique_ptr<CorruptingEchoServer>> stub = CorruptingEchoServer::Start(0);
  ASSERT_TRUE(stub.ok()) << stub.status();
  RunResult run = RunLoad({absl::StrCat("--target=127.0.0.1:", (*stub)->port()), "--connections=2",
                           "--depth=4", "--duration=1s", "--warmup=0s", "--json"});
  ExpectCleanJsonRun(run, 2);
}

// --- Open loop -------------------------------------------------------------------

// With a fixed schedule, a server that stops for a while is charged for the
// whole stop: the messages due during it count from when they were due. (A
// closed-loop client would send nothing while it waits, and so record the
// stop once.) This is a property of the measurement, not of speed: the
// latency cannot be below the pause, however fast the machine.
TEST_F(LoadTest, OpenLoopLatencyCountsFromTheScheduleAcrossAServerStall) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr absl::Duration kPause = absl::Milliseconds(300);
  absl::StatusOr<ChildProcess> load = ChildProcess::Start(LoadArgs(
      {target_, "--rate=1000", "--connections=2", "--duration=4s", "--warmup=200ms", "--json"}));
  ASSERT_TRUE(load.ok()) << load.status();
  // The first progress line (to stderr, with --json) comes a second in,
  // inside the window.
  ASSERT_TRUE(Eventually([&] { return load->Stderr(); }, "msg/s", kRunTimeout)) << load->Stderr();
  server_->process().Signal(SIGSTOP);
  absl::SleepFor(kPause);
  server_->process().Signal(SIGCONT);
  const std::string out = load->ReadAll(kRunTimeout);
  const std::optional<int> status = load->Wait(kTimeout);
  EXPECT_EQ(status, 0) << out << load->Stderr();
  JsonDocument json(out);
  ASSERT_TRUE(json.valid()) << out << load->Stderr();
  EXPECT_EQ(json.Type("$.open_loop"), "true");
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << out;
  // At least about the pause (the signals take a moment to act; 10% slack).
  EXPECT_GE(NumberAt(json, "$.latency_ns.max"), absl::ToDoubleNanoseconds(kPause) * 0.9) << out;
  // Not one unlucky message: every message due during the pause waited,
  // so well over one in a thousand did (2 x 500/s x 0.3 s = 300 of ~4000).
  EXPECT_GE(NumberAt(json, "$.latency_ns.p99"), absl::ToDoubleNanoseconds(kPause) / 10) << out;
}

// --- The server going away, and being interrupted ----------------------------------

TEST_F(LoadTest, AServerThatDiesMidRunEndsTheRunWithPartialFigures) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  absl::StatusOr<ChildProcess> load = ChildProcess::Start(
      LoadArgs({target_, "--connections=3", "--duration=30s", "--warmup=0s", "--json"}));
  ASSERT_TRUE(load.ok()) << load.status();
  ASSERT_TRUE(Eventually([&] { return load->Stderr(); }, "msg/s", kRunTimeout)) << load->Stderr();
  server_->process().Signal(SIGKILL);
  // Long before the 30 s window would have ended.
  const std::string out = load->ReadAll(kRunTimeout);
  const std::optional<int> status = load->Wait(kTimeout);
  EXPECT_EQ(status, 1) << out << load->Stderr();
  JsonDocument json(out);
  ASSERT_TRUE(json.valid()) << out << load->Stderr();
  EXPECT_EQ(json.Type("$.completed"), "false") << out;
  EXPECT_THAT(json.Text("$.stopped_because").value_or(""), HasSubstr("ended before")) << out;
  EXPECT_GE(NumberAt(json, "$.errors.closed") + NumberAt(json, "$.errors.reset"), 1) << out;
  EXPECT_GT(NumberAt(json, "$.messages"), 0) << out;
  EXPECT_LT(NumberAt(json, "$.measured_s"), 30) << out;
  EXPECT_THAT(load->Stderr(), HasSubstr("every connection ended before the window closed"));
}

TEST_F(LoadTest, SigintEndsTheWindowAndPrintsTheFiguresSoFar) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  absl::StatusOr<ChildProcess> load = ChildProcess::Start(
      LoadArgs({target_, "--connections=2", "--duration=60s", "--warmup=0s", "--json"}));
  ASSERT_TRUE(load.ok()) << load.status();
  ASSERT_TRUE(Eventually([&] { return load->Stderr(); }, "msg/s", kRunTimeout)) << load->Stderr();
  load->Signal(SIGINT);
  const std::string out = load->ReadAll(kRunTimeout);
  EXPECT_EQ(load->Wait(kTimeout), 130) << out << load->Stderr();
  JsonDocument json(out);
  ASSERT_TRUE(json.valid()) << out << load->Stderr();
  EXPECT_EQ(json.Type("$.interrupted"), "true") << out;
  EXPECT_EQ(json.Type("$.completed"), "false") << out;
  EXPECT_EQ(NumberAt(json, "$.errors.total"), 0) << out;
  EXPECT_GT(NumberAt(json, "$.messages"), 0) << out;
  EXPECT_GT(NumberAt(json, "$.measured_s"), 0) << out;
  EXPECT_LT(NumberAt(json, "$.measured_s"), 60) << out;
}

}  // namespace
}  // namespace switchboard::testing
