// Copyright Switchboard authors.
//
// Several real server processes on one PostgreSQL store, started by this
// test (pg_virtualenv): what one server learns, the others know (users,
// sessions, identity names, failed logins); a lost store gets 451 from
// identity and auth while echo goes on, and service comes back with it;
// and servers killed with SIGKILL while clients register through them lose
// no user they acknowledged.

#include <signal.h>

#include <atomic>
#include <memory>
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
#include "tests/testing/loopback.h"
#include "tests/testing/postgres_test.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::ServerProcess;
using ::testing::StartsWith;
using testing::TextClient;

constexpr char kServerFailed[] = "451 the server could not do that now; try again later";

class SharedStoreTest : public testing::PostgresTest {
 protected:
  // A server on the test's database (PGPASSWORD comes from this process).
  absl::StatusOr<ServerProcess> StartServer(std::vector<std::string> services = {"identity",
                                                                                 "auth"}) {
    // Registrations unlimited: the kill loop registers hundreds from a few
    // addresses.
    return ServerProcess::Start(
        services, {"--store=" + uri_, "--workers=2", "--max_registrations_per_address=0"});
  }

  // Connects from `from`, reads the greeting, asks `line`.
  static std::string AskOnce(int port, absl::string_view from, absl::string_view line) {
    absl::StatusOr<TextClient> client = TextClient::Connect(port, from);
    if (!client.ok()) return absl::StrCat("<error: ", client.status().message(), ">");
    client->Next();
    return client->Ask(line);
  }

  static std::string TokenOf(absl::string_view reply) {
    return std::string(reply.substr(reply.rfind(' ') + 1));
  }
};

TEST_F(SharedStoreTest, WhatOneServerLearnsTheOthersKnow) {
  absl::StatusOr<ServerProcess> a = StartServer();
  absl::StatusOr<ServerProcess> b = StartServer();
  absl::StatusOr<ServerProcess> c = StartServer();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();

  // Register on A, log in on B, resume A's session on C.
  const std::string registered =
      AskOnce(a->port("auth"), "127.0.0.21", "REGISTER alice alices-password");
  ASSERT_THAT(registered, StartsWith("201 registered alice; session "));
  EXPECT_THAT(AskOnce(b->port("auth"), "127.0.0.22", "LOGIN alice alices-password"),
              StartsWith("200 welcome alice; session "));
  EXPECT_EQ(AskOnce(c->port("auth"), "127.0.0.23", "RESUME " + TokenOf(registered)),
            "200 welcome back alice");
  // B knows the address A saw her at.
  absl::StatusOr<TextClient> known = TextClient::Connect(b->port("auth"), "127.0.0.21");
  ASSERT_TRUE(known.ok()) << known.status();
  EXPECT_EQ(known->Next(), "220 auth ready; known as alice: LOGIN <password>");
  EXPECT_EQ(AskOnce(b->port("auth"), "127.0.0.24", "REGISTER alice another-password"),
            "409 user exists");

  // An identity name set on A is known on B.
  EXPECT_EQ(AskOnce(a->port("identity"), "127.0.0.25", "Ann"), "201 Nice to meet you, Ann!");
  absl::StatusOr<TextClient> identity = TextClient::Connect(b->port("identity"), "127.0.0.25");
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_THAT(identity->Next(), HasSubstr("Ann"));
}

TEST_F(SharedStoreTest, FailuresSpreadOverServersLockOnEvery) {
  absl::StatusOr<ServerProcess> a = StartServer({"auth"});
  absl::StatusOr<ServerProcess> b = StartServer({"auth"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_THAT(AskOnce(a->port("auth"), "127.0.0.31", "REGISTER carol carols-password"),
              StartsWith("201 "));
  // Five wrong passwords, from five addresses, alternating servers.
  for (int i = 0; i < 5; ++i) {
    const int port = (i % 2 == 0 ? a : b)->port("auth");
    EXPECT_EQ(AskOnce(port, absl::StrCat("127.0.1.", i + 1), "LOGIN carol wrong-password"),
              "401 invalid credentials")
        << i;
  }
  // The right password is refused now, on either server.
  EXPECT_THAT(AskOnce(a->port("auth"), "127.0.1.9", "LOGIN carol carols-password"),
              MatchesRegex("429 too many attempts; retry in [0-9]+s"));
  EXPECT_THAT(AskOnce(b->port("auth"), "127.0.1.9", "LOGIN carol carols-password"),
              MatchesRegex("429 too many attempts; retry in [0-9]+s"));
}

TEST_F(SharedStoreTest, LostStoreGets451WhileEchoGoesOnThenServesAgain) {
  absl::StatusOr<ServerProcess> server = StartServer({"echo", "identity", "auth"});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_THAT(AskOnce(server->port("auth"), "127.0.0.41", "REGISTER dave daves-password"),
              StartsWith("201 "));

  ASSERT_TRUE(cluster_->Kill().ok());
  // Both greet from the store (the name, the user known at the address):
  // the greeting says it, and the connection ends.
  for (const char* service : {"auth", "identity"}) {
    absl::StatusOr<TextClient> client = TextClient::Connect(server->port(service), "127.0.0.42");
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(client->Next(), kServerFailed) << service;
    EXPECT_TRUE(client->ClosedByServer()) << service;
  }
  Socket echo = testing::ConnectTo("127.0.0.1", server->port("echo"));
  EXPECT_EQ(testing::Echo(echo, "still here"), "still here");

  ASSERT_TRUE(cluster_->Restart().ok());
  std::string reply;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    reply = AskOnce(server->port("auth"), "127.0.0.44", "LOGIN dave daves-password");
    if (absl::StartsWith(reply, "200 ")) break;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  EXPECT_THAT(reply, StartsWith("200 welcome dave; session "));
  // One line when it was lost and one when it came back, not one per request.
  server->Stop();
  const std::string log = server->process().Stderr();
  int lost = 0;
  for (size_t at = log.find("lost PostgreSQL"); at != std::string::npos;
       at = log.find("lost PostgreSQL", at + 1)) {
    ++lost;
  }
  EXPECT_EQ(lost, 1) << log;
  EXPECT_THAT(log, HasSubstr("PostgreSQL is back"));
}

TEST_F(SharedStoreTest, EveryAcknowledgedUserSurvivesServersKilledMidRegistration) {
  constexpr int kRounds = 20;
  constexpr int kClients = 3;
  absl::StatusOr<ServerProcess> survivor = StartServer({"auth"});
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  absl::Mutex mutex;
  std::vector<std::string> acknowledged;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<ServerProcess> victim = StartServer({"auth"});
    ASSERT_TRUE(victim.ok()) << victim.status();
    const int port = victim->port("auth");
    std::atomic<int> done{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        for (int i = 0; i < 50; ++i) {  // bounded: the kill comes first
          const std::string user = absl::StrCat("u", round, "_", c, "_", i);
          const std::string reply = AskOnce(port, absl::StrCat("127.0.2.", c + 1),
                                            absl::StrCat("REGISTER ", user, " pw-", user));
          if (!absl::StartsWith(reply, "201 ")) return;
          absl::MutexLock lock(&mutex);
          acknowledged.push_back(user);
          done.fetch_add(1);
        }
      });
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (done.load() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    victim->process().Signal(SIGKILL);
    for (std::thread& client : clients) client.join();
  }
  ASSERT_GE(acknowledged.size(), static_cast<size_t>(kRounds));
  for (const std::string& user : acknowledged) {
    EXPECT_THAT(
        AskOnce(survivor->port("auth"), "127.0.3.1", absl::StrCat("LOGIN ", user, " pw-", user)),
        StartsWith("200 welcome "))
        << user;
  }
}

}  // namespace
}  // namespace switchboard
