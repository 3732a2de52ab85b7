// Copyright Switchboard authors.
//
// What only PostgresStore has, on a real PostgreSQL server started by this
// test: the URI check (no password on the command line), the versioned
// schema (created, migrated from version 1, a newer one refused, several
// servers starting at once), and a server that cannot be reached or is lost
// and comes back: Unavailable at once, never a hang, service again after
// the backoff, and nothing acknowledged lost.

#include "services/store/postgres_store.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/store/postgres_connection.h"
#include "services/store/postgres_schema.h"
#include "tests/store/store_test_util.h"
#include "tests/testing/loopback.h"
#include "tests/testing/postgres_test.h"

namespace switchboard::store_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PostgresStoreTest : public ::switchboard::testing::PostgresTest {
 protected:
  // Runs `sql` on a connection of the test's own.
  void Run(const std::string& sql) {
    absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(uri_);
    ASSERT_TRUE(connection.ok()) << connection.status();
    ASSERT_OK((*connection)->Run(sql.c_str()));
  }
  int Version() {
    absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(uri_);
    if (!connection.ok()) return -1;
    absl::StatusOr<int> version = PostgresSchemaVersion(**connection);
    return version.ok() ? *version : -1;
  }
};

TEST(PostgresUriTest, OnlyPostgresUrisWithoutAPassword) {
  EXPECT_OK(CheckPostgresUri("postgresql://app@db.example:5432/switchboard"));
  EXPECT_OK(CheckPostgresUri("postgres://app@[::1]:5432/switchboard?sslmode=require"));
  EXPECT_OK(CheckPostgresUri("postgresql:///switchboard?host=/run/postgresql"));
  const absl::Status with_password = CheckPostgresUri("postgresql://app:hunter2@db/x");
  EXPECT_EQ(with_password.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(with_password.message()), HasSubstr("PGPASSWORD"));
  EXPECT_THAT(std::string(with_password.message()), Not(HasSubstr("hunter2")));
  const absl::Status in_query = CheckPostgresUri("postgresql://app@db/x?password=hunter2");
  EXPECT_EQ(in_query.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(in_query.message()), Not(HasSubstr("hunter2")));
  EXPECT_EQ(CheckPostgresUri("mysql://app@db/x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPostgresUri("postgresql://app@db/x?nosuchoption=1").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresStoreTest, UnreachableServerIsUnavailableInOneLine) {
  const int port = ::switchboard::testing::UnusedTcpPort();
  ASSERT_GT(port, 0);
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(absl::StrCat("postgresql://postgres@127.0.0.1:", port, "/x"), 2);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_THAT(std::string(store.status().message()), Not(HasSubstr("\n")));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("Connection refused"));
}

TEST_F(PostgresStoreTest, CreatesTheSchemaAtTheCurrentVersion) {
  EXPECT_EQ(Version(), 0);
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri_, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Version(), kPostgresSchemaVersion);
  // Opening again changes nothing.
  store->reset();
  store = PostgresStore::Open(uri_, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Version(), kPostgresSchemaVersion);
}

TEST_F(PostgresStoreTest, MigratesSchemaVersion1KeepingItsData) {
  Run("CREATE TABLE switchboard_schema (version integer NOT NULL);"
      "INSERT INTO switchboard_schema VALUES (1);"
      "CREATE TABLE identities (address bytea PRIMARY KEY, name bytea NOT NULL);"
      "CREATE TABLE users (name bytea PRIMARY KEY, password_hash bytea NOT NULL);"
      "INSERT INTO identities VALUES ('192.0.2.1'::bytea, 'Ann'::bytea);"
      "INSERT INTO users VALUES ('ann'::bytea, 'h'::bytea);");
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri_, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Version(), kPostgresSchemaVersion);
  EXPECT_EQ(NameOf(**store, "192.0.2.1"), "Ann");
  EXPECT_EQ(HashOf(**store, "ann"), "h");
  ASSERT_OK((*store)->AddSession("t", {"ann", kCreated, kExpires}));
  ExpectSession(SessionOf(**store, "t"), {"ann", kCreated, kExpires});
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  Run("CREATE TABLE switchboard_schema (version integer NOT NULL);"
      "INSERT INTO switchboard_schema VALUES (99);");
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri_, 2);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("run a newer server"));
  EXPECT_EQ(Version(), 99);
}

TEST_F(PostgresStoreTest, ServersStartingTogetherMigrateOnce) {
  constexpr int kServers = 6;
  std::vector<absl::Status> results(kServers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kServers; ++i) {
    threads.emplace_back([&, i] { results[i] = PostgresStore::Open(uri_, 1).status(); });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kServers; ++i) EXPECT_OK(results[i]);
  EXPECT_EQ(Version(), kPostgresSchemaVersion);
}

TEST_F(PostgresStoreTest, LostServerIsUnavailableThenServesAgainWithNothingLost) {
  absl::StatusOr<std::unique_ptr<PostgresStore>> opened = PostgresStore::Open(uri_, 4);
  ASSERT_TRUE(opened.ok()) << opened.status();
  PostgresStore& store = **opened;
  ASSERT_OK(store.AddUser("before", "h1"));
  ASSERT_OK(store.SetName("192.0.2.1", "Before"));

  ASSERT_OK(cluster_->Kill());
  // Every call answers at once (no connect timeout per call) and says so.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::optional<std::string>> hash = store.PasswordHash("before");
    EXPECT_EQ(hash.status().code(), absl::StatusCode::kUnavailable) << i << ": " << hash.status();
  }
  EXPECT_EQ(store.AddUser("during", "h2").code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store.reachable());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "calls waited for the lost server";

  ASSERT_OK(cluster_->Restart());
  // Back after at most one backoff (10 s at most).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<std::optional<std::string>> hash = store.PasswordHash("before");
  while (!hash.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    hash = store.PasswordHash("before");
  }
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, "h1");
  EXPECT_TRUE(store.reachable());
  EXPECT_EQ(NameOf(store, "192.0.2.1"), "Before");
  EXPECT_EQ(HashOf(store, "during"), std::nullopt);
  ASSERT_OK(store.AddUser("after", "h3"));
  EXPECT_EQ(HashOf(store, "after"), "h3");
}

}  // namespace
}  // namespace switchboard::store_test
