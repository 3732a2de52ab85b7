// Copyright Switchboard authors.
//
// LoadGenerator's auth and chat scenarios as a library, in this process,
// against the real server: figures that add up, configs they refuse, the
// run id that keeps runs apart, and no allocation per chat message once the
// load is steady (counted by replacing the global operator new in this
// test).

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/load_generator.h"
#include "gtest/gtest.h"
#include "tests/testing/allocation_counter.h"
#include "tests/testing/child_process.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::ServerProcess;

class LoadScenariosGeneratorTest : public ::testing::Test {
 protected:
  // Starts the server with `service` and aims config_ at it.
  void StartServer(const std::string& service, LoadScenario scenario,
                   const std::vector<std::string>& flags = {}) {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({service}, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    absl::StatusOr<InetAddress> target =
        InetAddress::Parse("127.0.0.1", static_cast<uint16_t>(server_->port(service)));
    ASSERT_TRUE(target.ok()) << target.status();
    config_.scenario = scenario;
    config_.target = *target;
    config_.warmup = absl::Milliseconds(300);
    config_.duration = absl::Seconds(1);
    // No progress reports unless a test asks for them.
    config_.progress_interval = absl::Hours(1);
    if (scenario == LoadScenario::kAuth) config_.framing = Framing::kLine;
    if (scenario == LoadScenario::kChat) {
      config_.message_size = 64;
      config_.rate = 100;
    }
  }

  std::optional<ServerProcess> server_;
  LoadConfig config_;
};

TEST_F(LoadScenariosGeneratorTest, AuthFiguresAddUp) {
  ASSERT_NO_FATAL_FAILURE(StartServer("auth", LoadScenario::kAuth));
  config_.connections = 3;
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results = generator.Run(nullptr);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->ok()) << results->stopped_because << " "
                             << results->errors.first(LoadErrorKind::kMismatch);
  EXPECT_EQ(results->errors.total(), 0u);
  EXPECT_GT(results->messages, 0u);
  EXPECT_EQ(results->latency.Count(), results->messages);
  EXPECT_EQ(results->bytes, 0u);
  EXPECT_EQ(results->connections_opened, 3);
  EXPECT_FALSE(results->config.run_id.empty()) << "a run id is made when none is given";
}

// Several targets: connection i goes to target i % n, so one run spreads
// over several servers. Each server knows exactly the users of its share.
TEST_F(LoadScenariosGeneratorTest, ConnectionsTakeTheTargetsInTurn) {
  ASSERT_NO_FATAL_FAILURE(StartServer("auth", LoadScenario::kAuth));
  absl::StatusOr<ServerProcess> second = ServerProcess::Start({"auth"}, {});
  ASSERT_TRUE(second.ok()) << second.status();
  config_.more_targets.push_back(
      *InetAddress::Parse("127.0.0.1", static_cast<uint16_t>(second->port("auth"))));
  config_.connections = 4;
  config_.run_id = "two.servers";
  EXPECT_EQ(config_.TargetsText(),
            absl::StrCat("127.0.0.1:", server_->port("auth"), ",127.0.0.1:", second->port("auth")));
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results = generator.Run(nullptr);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->errors.total(), 0u) << results->errors.first(LoadErrorKind::kMismatch);
  for (int id = 0; id < 4; ++id) {
    const int mine = (id % 2 == 0 ? *server_ : *second).port("auth");
    const int other = (id % 2 == 0 ? *second : *server_).port("auth");
    const std::string user = absl::StrCat("load", id, "-two.servers");
    for (int port : {mine, other}) {
      absl::StatusOr<testing::TextClient> client = testing::TextClient::Connect(port);
      ASSERT_TRUE(client.ok()) << client.status();
      client->Next();
      const std::string reply = client->Ask(absl::StrCat("REGISTER ", user, " any-password"));
      if (port == mine) {
        EXPECT_EQ(reply, "409 user exists") << user << " on its own server";
      } else {
        EXPECT_TRUE(absl::StartsWith(reply, absl::StrCat("201 registered ", user, ";")))
            << user << " on the other server: " << reply;
      }
    }
  }
}

// A run id names the users: a second run with the same one meets the first
// run's users (409 user exists); a fresh one does not.
TEST_F(LoadScenariosGeneratorTest, TheRunIdKeepsRunsApart) {
  ASSERT_NO_FATAL_FAILURE(StartServer("auth", LoadScenario::kAuth));
  config_.connections = 2;
  config_.warmup = absl::Milliseconds(100);
  config_.duration = absl::Milliseconds(300);
  config_.run_id = "same.again";
  {
    LoadGenerator first(config_);
    absl::StatusOr<LoadResults> results = first.Run(nullptr);
    ASSERT_TRUE(results.ok()) << results.status();
    EXPECT_EQ(results->errors.total(), 0u) << results->errors.first(LoadErrorKind::kMismatch);
  }
  {
    LoadGenerator again(config_);
    absl::StatusOr<LoadResults> results = again.Run(nullptr);
    ASSERT_TRUE(results.ok()) << results.status();
    EXPECT_EQ(results->errors.count(LoadErrorKind::kMismatch), 2u);
    EXPECT_NE(results->errors.first(LoadErrorKind::kMismatch).find("409 user exists"),
              std::string::npos)
        << results->errors.first(LoadErrorKind::kMismatch);
  }
  config_.run_id.clear();
  LoadGenerator fresh(config_);
  absl::StatusOr<LoadResults> results = fresh.Run(nullptr);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->errors.total(), 0u) << results->errors.first(LoadErrorKind::kMismatch);
  EXPECT_NE(results->config.run_id, "same.again");
}

TEST_F(LoadScenariosGeneratorTest, ChatFiguresAddUp) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chat", LoadScenario::kChat));
  config_.connections = 4;
  config_.threads = 2;
  config_.rate = 40;
  config_.progress_interval = absl::Milliseconds(200);
  std::vector<LoadProgress> reports;
  LoadGenerator generator(config_);
  absl::StatusOr<LoadResults> results =
      generator.Run([&reports](const LoadProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->ok()) << results->stopped_because;
  EXPECT_EQ(results->errors.total(), 0u);
  EXPECT_EQ(results->connections_opened, 4);
  EXPECT_EQ(results->connections_open_at_end, 4);
  EXPECT_GT(results->messages, 0u);
  EXPECT_EQ(results->bytes, results->messages * config_.message_size);
  // One latency per receipt of a window's message.
  EXPECT_EQ(results->latency.Count(), results->deliveries);
  EXPECT_LE(results->expected_deliveries, results->messages * 4);
  EXPECT_LE(results->deliveries, results->expected_deliveries);
  EXPECT_GE(static_cast<double>(results->deliveries), 0.9 * results->messages * 4);
  EXPECT_EQ(results->lost(), results->expected_deliveries - results->deliveries);
  EXPECT_GT(results->deliveries_per_second(), 0);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back().open_connections, 4);
}

TEST_F(LoadScenariosGeneratorTest, RefusesConfigsTheirServicesCannotTake) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chat", LoadScenario::kChat));
  auto refused = [this](auto change) {
    LoadConfig config = config_;
    change(config);
    return !ValidateLoadConfig(config).ok() && !LoadGenerator(config).Run(nullptr).ok();
  };
  EXPECT_TRUE(ValidateLoadConfig(config_).ok());
  EXPECT_TRUE(refused([](LoadConfig& c) { c.rate = 0; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.message_size = kMinChatText - 1; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.message_size = kMaxChatText + 1; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.run_id = "has space"; }));
  EXPECT_TRUE(refused([](LoadConfig& c) { c.run_id = "seventeen-chars-x"; }));
  EXPECT_TRUE(refused([](LoadConfig& c) {
    c.scenario = LoadScenario::kAuth;
    c.framing = Framing::kRaw;
  }));
  EXPECT_TRUE(refused([](LoadConfig& c) {
    c.scenario = LoadScenario::kAuth;
    c.framing = Framing::kLine;
    c.password = "short";
  }));
}

TEST_F(LoadScenariosGeneratorTest, ScenarioNames) {
  for (LoadScenario scenario : {LoadScenario::kEcho, LoadScenario::kAuth, LoadScenario::kChat}) {
    absl::StatusOr<LoadScenario> parsed = ParseLoadScenario(LoadScenarioName(scenario));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, scenario);
  }
  EXPECT_FALSE(ParseLoadScenario("ftp").ok());
}

// Runs a short and a long chat load of the same shape: whatever the longer
// one allocates beyond the shorter must be far less than one allocation per
// extra message or receipt.
TEST_F(LoadScenariosGeneratorTest, ChatAllocatesNothingPerMessage) {
  ASSERT_NO_FATAL_FAILURE(StartServer("chat", LoadScenario::kChat, {"--chat_rate=1000"}));
  config_.connections = 4;
  config_.rate = 1000;
  config_.warmup = absl::Milliseconds(200);
  auto run = [this](absl::Duration window, uint64_t* allocations) -> uint64_t {
    LoadConfig config = config_;
    config.duration = window;
    LoadGenerator generator(config);
    const uint64_t before = testing::AllocationCount();
    absl::StatusOr<LoadResults> results = generator.Run(nullptr);
    *allocations = testing::AllocationCount() - before;
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return 0;
    EXPECT_EQ(results->errors.total(), 0u) << results->errors.first(LoadErrorKind::kTimeout);
    return results->messages + results->deliveries;
  };
  uint64_t short_allocations = 0;
  uint64_t long_allocations = 0;
  const uint64_t short_events = run(absl::Milliseconds(300), &short_allocations);
  const uint64_t long_events = run(absl::Milliseconds(1500), &long_allocations);
  ASSERT_GT(long_events, short_events + 1000) << "too few messages to tell";
  const double extra_events = static_cast<double>(long_events - short_events);
  // A run allocates its connections and buffers: zero would mean the
  // counter is not counting and the check below proves nothing.
  ASSERT_GT(short_allocations, 0u) << "the allocation counter is not linked in";
  const double extra_allocations =
      static_cast<double>(long_allocations) - static_cast<double>(short_allocations);
  EXPECT_LT(extra_allocations, extra_events / 100)
      << short_allocations << " allocations for " << short_events << " messages and receipts, "
      << long_allocations << " for " << long_events;
}

}  // namespace
}  // namespace switchboard
