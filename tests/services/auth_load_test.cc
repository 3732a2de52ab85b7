// Copyright Switchboard authors.
//
// Password hashing runs on the worker pool, never on an I/O thread: while
// four clients keep LOGIN busy at the interactive cost, an echo client on
// the same server keeps getting its replies. The bound is generous (the
// worst echo round trip must stay under the typical time of one login) and
// the figures are printed, since timing on a shared machine is noisy.

#include <algorithm>
#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"
#include "tests/testing/child_process.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::ServerProcess;
using testing::TextClient;

TEST(AuthLoadTest, EchoStaysPromptWhileLoginsSaturateThePool) {
  absl::StatusOr<ServerProcess> server =
      ServerProcess::Start({"echo", "auth"}, {"--pwhash_cost=interactive", "--workers=4"});
  ASSERT_TRUE(server.ok()) << server.status();
  const int auth_port = server->port("auth");

  constexpr int kLoginClients = 4;
  constexpr int kLoginsEach = 4;
  std::vector<TextClient> logins;
  for (int i = 0; i < kLoginClients; ++i) {
    absl::StatusOr<TextClient> client = TextClient::Connect(
        auth_port, absl::StrCat("127.0.30.", i + 1), Framing::kLine, absl::Seconds(60));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(absl::StartsWith(client->Next(), "220 "));
    ASSERT_TRUE(absl::StartsWith(
        client->Ask(absl::StrCat("REGISTER loader", i, " loaders-password")), "201 "));
    logins.push_back(*std::move(client));
  }

  absl::Mutex mutex;
  std::vector<absl::Duration> login_times;
  std::atomic<int> running{kLoginClients};
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoginClients; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < kLoginsEach; ++n) {
        const absl::Time start = absl::Now();
        const std::string reply =
            logins[i].Ask(absl::StrCat("LOGIN loader", i, " loaders-password"));
        const absl::Duration took = absl::Now() - start;
        EXPECT_TRUE(absl::StartsWith(reply, "200 welcome ")) << reply;
        absl::MutexLock lock(&mutex);
        login_times.push_back(took);
      }
      --running;
    });
  }

  // No ASSERT until the login threads are joined: they must not outlive
  // the test body.
  absl::StatusOr<Socket> echo =
      Socket::Connect(*InetAddress::Parse("127.0.0.1", server->port("echo")));
  absl::Status echo_status = echo.status();
  if (echo_status.ok()) echo_status = echo->SetReceiveTimeout(absl::Seconds(30));
  absl::Duration worst_echo;
  int round_trips = 0;
  const std::string chunk(1024, 'e');
  std::string back(chunk.size(), '\0');
  while (echo_status.ok() && running.load() > 0) {
    const absl::Time start = absl::Now();
    echo_status = echo->SendAll(chunk);
    if (echo_status.ok()) echo_status = echo->ReceiveExactly(back.data(), back.size());
    worst_echo = std::max(worst_echo, absl::Now() - start);
    ++round_trips;
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(echo_status.ok()) << echo_status;

  ASSERT_EQ(login_times.size(), static_cast<size_t>(kLoginClients * kLoginsEach));
  std::sort(login_times.begin(), login_times.end());
  const absl::Duration median_login = login_times[login_times.size() / 2];
  std::cout << "logins: " << login_times.size() << ", median " << absl::FormatDuration(median_login)
            << ", max " << absl::FormatDuration(login_times.back())
            << "; echo round trips meanwhile: " << round_trips << ", worst "
            << absl::FormatDuration(worst_echo) << std::endl;
  EXPECT_GT(round_trips, 3);
  EXPECT_LT(worst_echo, median_login)
      << "an echo reply waited as long as a password hash: hashing blocks the I/O thread";
  EXPECT_EQ(server->Stop(), 0);
}

}  // namespace
}  // namespace switchboard
