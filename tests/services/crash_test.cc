// Copyright Switchboard authors.
//
// Durability: the real server binary is killed with SIGKILL in the middle of
// a burst of REGISTERs and identity names from many clients; after a
// restart on the same --data_dir, every record the server acknowledged
// (201) must be there.

#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::ServerProcess;
using ::testing::StartsWith;
using testing::TempPath;
using testing::TextClient;

struct Acknowledged {
  absl::Mutex mutex;
  std::vector<std::pair<std::string, std::string>> names;  // address, name
  std::vector<std::pair<std::string, std::string>> users;  // user, token
  int count() {
    absl::MutexLock lock(&mutex);
    return static_cast<int>(names.size() + users.size());
  }
};

TEST(CrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  const std::string data_dir = TempPath("crash");
  const std::vector<std::string> flags = {"--data_dir=" + data_dir, "--workers=4"};
  absl::StatusOr<ServerProcess> server = ServerProcess::Start({"identity", "auth"}, flags);
  ASSERT_TRUE(server.ok()) << server.status();
  const int identity_port = server->port("identity");
  const int auth_port = server->port("auth");

  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;  // bounded: the kill comes long before
  Acknowledged acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread && !stop.load(); ++i) {
        // Each write from its own address: 127.0.<8+t>.<i+1>.
        const std::string from = absl::StrCat("127.0.", 8 + t, ".", i + 1);
        if (t % 2 == 0) {
          absl::StatusOr<TextClient> client = TextClient::Connect(identity_port, from);
          if (!client.ok() || !absl::StartsWith(client->Next(), "300 ")) return;
          const std::string name = absl::StrCat("Name ", t, "-", i);
          if (client->Ask(name) != absl::StrCat("201 Nice to meet you, ", name, "!")) return;
          absl::MutexLock lock(&acknowledged.mutex);
          acknowledged.names.emplace_back(from, name);
        } else {
          absl::StatusOr<TextClient> client = TextClient::Connect(auth_port, from);
          if (!client.ok() || !absl::StartsWith(client->Next(), "220 ")) return;
          const std::string user = absl::StrCat("user", t, "_", i);
          const std::string reply = client->Ask(absl::StrCat("REGISTER ", user, " pw-", user));
          if (!absl::StartsWith(reply, "201 ")) return;
          absl::MutexLock lock(&acknowledged.mutex);
          acknowledged.users.emplace_back(user, reply.substr(reply.rfind(' ') + 1));
        }
      }
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (acknowledged.count() < 60 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  server->process().Signal(SIGKILL);
  stop = true;
  for (std::thread& thread : threads) thread.join();
  ASSERT_GE(acknowledged.count(), 60) << "the burst did not get going";
  server->process().Wait(absl::Seconds(10));

  absl::StatusOr<ServerProcess> restarted = ServerProcess::Start({"identity", "auth"}, flags);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  for (const auto& [from, name] : acknowledged.names) {
    absl::StatusOr<TextClient> client = TextClient::Connect(restarted->port("identity"), from);
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(client->Next(), absl::StrCat("200 Hello, ", name, "!")) << "lost: " << from;
  }
  absl::StatusOr<TextClient> auth = TextClient::Connect(restarted->port("auth"), "127.0.20.1");
  ASSERT_TRUE(auth.ok()) << auth.status();
  auth->Next();
  for (const auto& [user, token] : acknowledged.users) {
    EXPECT_EQ(auth->Ask(absl::StrCat("RESUME ", token)), absl::StrCat("200 welcome back ", user))
        << "lost the session of " << user;
    EXPECT_EQ(auth->Ask(absl::StrCat("REGISTER ", user, " other-password")), "409 user exists")
        << "lost the account " << user;
  }
  EXPECT_EQ(restarted->Stop(), 0);
}

// A second server on the same data directory stops at start-up, naming it.
TEST(CrashTest, SecondServerOnTheSameDataDirFailsFast) {
  const std::string data_dir = TempPath("shared-dir");
  const std::vector<std::string> flags = {"--data_dir=" + data_dir};
  absl::StatusOr<ServerProcess> first = ServerProcess::Start({"identity"}, flags);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<ServerProcess> second = ServerProcess::Start({"identity"}, flags);
  ASSERT_FALSE(second.ok()) << "two servers share one store";
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr(data_dir));
  EXPECT_EQ(first->Stop(), 0);
}

}  // namespace
}  // namespace switchboard
