// Copyright Switchboard authors.
//
// LoadGenerator as a library (the way the benchmarks use it), in this
// process, against the real server: progress reports and figures that add
// up, Stop() from another thread, configs it refuses, a refused target, and
// no allocation per message once the load is steady (counted by replacing
// the global operator new in this test).

#include "clients/load_generator.h"

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/allocation_counter.h"
#include "tests/testing/child_process.h"

namespace switchboard {
namespace {

using testing::ServerProcess;

class LoadGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({"echo"}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    absl::StatusOr<InetAddress> target =
        InetAddress::Parse("127.0.0.1", static_cast<uint16_t>(server_->port("echo")));
    ASSERT_TRUE(target.ok()) << target.status();
    config_.target = *target;
    config_.connections = 4;
    config_.warmup = absl::Milliseconds(100);
    config_.duration = absl::Seconds(1);
    // No progress reports unless a test asks for them.
    config_.progress_interval = absl::Hours(1);
  }

  std::optional<ServerProcess> server_;
  LoadConfig config_;
};

TEST_F(LoadGeneratorTest, ReportsProgressAndFiguresThatAddUp) {
  config_.warmup = absl::Milliseconds(300);
  config_.progress_interval = absl::Milliseconds(100);
  config_.depth = 2;
  config_.threads = 2;
  std::vector<LoadProgress> reports;
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results =
      generator.Run([&reports](const LoadProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->ok()) << results->stopped_because;
  EXPECT_TRUE(results->completed);
  EXPECT_EQ(results->errors.total(), 0u);
  EXPECT_EQ(results->measured, config_.duration);
  EXPECT_GT(results->messages, 0u);
  EXPECT_EQ(results->latency.Count(), results->messages);
  EXPECT_EQ(results->bytes, results->messages * config_.message_size);
  EXPECT_EQ(results->connections_opened, 4);
  EXPECT_EQ(results->connections_open_at_end, 4);
  EXPECT_GT(results->messages_per_second(), 0);
  // About 13 reports; how many exactly depends on the scheduler.
  ASSERT_GE(reports.size(), 5u);
  EXPECT_TRUE(reports.front().warming_up);
  EXPECT_FALSE(reports.back().warming_up);
  for (size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GT(reports[i].elapsed, reports[i - 1].elapsed);
  }
  EXPECT_EQ(reports.back().open_connections, 4);
  EXPECT_EQ(reports.back().errors, 0u);
}

TEST_F(LoadGeneratorTest, StopEndsTheWindowEarly) {
  config_.duration = absl::Seconds(60);
  LoadGenerator generator(config_);
  std::thread stopper([&generator] {
    absl::SleepFor(absl::Milliseconds(500));
    generator.Stop();
  });
  absl::StatusOr<LoadResults> results = generator.Run(nullptr);
  stopper.join();
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->interrupted);
  EXPECT_FALSE(results->completed);
  EXPECT_LT(results->measured, config_.duration);
  EXPECT_EQ(results->errors.total(), 0u);
}

TEST_F(LoadGeneratorTest, ServerCpuOverTheWindow) {
  config_.server_pid = server_->process().pid();
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results = generator.Run(nullptr);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_TRUE(results->server_cpu.has_value()) << results->server_cpu_error;
  EXPECT_GE(*results->server_cpu, absl::ZeroDuration());
  EXPECT_TRUE(results->server_cpu_us_per_message().has_value());
}

TEST_F(LoadGeneratorTest, RefusesConfigsThatCannotRun) {
  auto refused = [this](auto change) {
    LoadConfig config = config_;
    change(config);
    return !ValidateLoadConfig(config).ok() && !LoadGenerator(config).Run(nullptr).ok();
  };
  EXPECT_TRUE(ValidateLoadConfig(config_).ok());
  EXPECT_TRUE(refused([](LoadConfig& c) { c.connections = 0; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.threads = 0; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.depth = 0; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.message_size = 0; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.duration = absl::ZeroDuration(); }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.warmup = absl::Seconds(-1); }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.timeout = absl::ZeroDuration(); }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.rate = -1; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.connect_rate = -1; }));
  EXPECT_TRUE(refused([](LoadConfig& c) {
    c.framing = Framing::kLine;
    c.message_size = 4097;
  }));
  EXPECT_TRUE(refused([](LoadConfig& c) {
    c.framing = Framing::kLength;
    c.message_size = (1 << 20) + 1;
  }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.target.set_port(0); }));
}

TEST_F(LoadGeneratorTest, ARefusedTargetGivesResultsNotAnError) {
  server_->Stop();  // nothing listens on its port any more
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results = generator.Run(nullptr);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE(results->completed);
  EXPECT_EQ(results->errors.count(LoadErrorKind::kConnect), 4u);
  EXPECT_EQ(results->connections_opened, 0);
  EXPECT_EQ(results->messages, 0u);
  EXPECT_NE(results->stopped_because.find("no connection could be opened"), std::string::npos)
      << results->stopped_because;
}

// Runs a short and a long load of the same shape: whatever the longer one
// allocates beyond the shorter must be far less than one allocation per
// extra message.
void ExpectNoAllocationPerMessage(LoadConfig config) {
  auto run = [&config](absl::Duration window, uint64_t* allocations) {
    config.duration = window;
    LoadGenerator generator(config);
    const uint64_t before = testing::AllocationCount();
    absl::StatusOr<LoadResults> results = generator.Run(nullptr);
    *allocations = testing::AllocationCount() - before;
    EXPECT_TRUE(results.ok()) << results.status();
    EXPECT_EQ(results->errors.total(), 0u);
    return results.ok() ? results->messages : 0;
  };
  uint64_t short_allocations = 0;
  uint64_t long_allocations = 0;
  const uint64_t short_messages = run(absl::Milliseconds(300), &short_allocations);
  const uint64_t long_messages = run(absl::Milliseconds(1500), &long_allocations);
  ASSERT_GT(long_messages, short_messages + 1000) << "too few messages to tell";
  const double extra_messages = static_cast<double>(long_messages - short_messages);
  // A run allocates its connections and buffers: zero would mean the
  // counter is not counting and the check below proves nothing.
  ASSERT_GT(short_allocations, 0u) << "the allocation counter is not linked in";
  const double extra_allocations =
      static_cast<double>(long_allocations) - static_cast<double>(short_allocations);
  EXPECT_LT(extra_allocations, extra_messages / 100)
      << short_allocations << " allocations for " << short_messages << " messages, "
      << long_allocations << " for " << long_messages;
}

TEST_F(LoadGeneratorTest, ClosedLoopAllocatesNothingPerMessage) {
  config_.depth = 4;
  config_.threads = 2;
  ExpectNoAllocationPerMessage(config_);
}

TEST_F(LoadGeneratorTest, OpenLoopAllocatesNothingPerMessage) {
  config_.rate = 4000;
  ExpectNoAllocationPerMessage(config_);
}

}  // namespace
}  // namespace switchboard
