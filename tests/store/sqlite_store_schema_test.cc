// Copyright Switchboard authors.
//
// SqliteStore across reopening: everything kept, migration from schema
// version 1 (once, and all or nothing), and refusal of a newer schema.

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/store/sqlite_store.h"
#include "tests/store/store_test_util.h"

namespace switchboard::store_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Schema version 1 exactly as shipped: the first step of kMigrations in
// services/store/sqlite_store.cc. A historical fact, copied rather than
// shared, so that editing the shipped step breaks this test.
constexpr char kSchemaVersion1[] =
    "CREATE TABLE identities ("
    "  address TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  password_hash TEXT NOT NULL"
    ") WITHOUT ROWID;";

TEST_F(SqliteStoreOpenTest, ReopenKeepsEverything) {
  const std::string data_dir = dir_ + "/data";
  const std::vector<std::string> odd = OddValues();
  const std::vector<std::string> hashes = BinaryHashes();
  {
    std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->SetName("127.0.0.1", "alice"));
    ASSERT_OK(store->SetName("::1", "bob"));
    ASSERT_OK(store->SetName("10.0.0.9", "gone"));
    ASSERT_EQ(store->ForgetName("10.0.0.9").value_or(false), true);
    ASSERT_OK(store->AddUser("alice", "$argon2id$alice"));
    ASSERT_OK(store->AddUser("bob", "$argon2id$bob-old"));
    ASSERT_OK(store->SetPasswordHash("bob", "$argon2id$bob-new"));
    ASSERT_OK(store->SetUserAt("127.0.0.1", "alice"));
    for (size_t i = 0; i < hashes.size(); ++i) {
      ASSERT_OK(
          store->AddSession(hashes[i], {absl::StrCat("user", i), kCreated + absl::Microseconds(i),
                                        kExpires + absl::Microseconds(i)}));
    }
    for (size_t i = 0; i < odd.size(); ++i) {
      ASSERT_OK(store->SetName(absl::StrCat("odd-", i), odd[i]));
      ASSERT_OK(store->AddUser(odd[i], odd[i]));
    }
  }
  // Closed: the lock is free and everything is on the disk.
  std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(NameOf(*store, "127.0.0.1"), "alice");
  EXPECT_EQ(NameOf(*store, "::1"), "bob");
  EXPECT_EQ(NameOf(*store, "10.0.0.9"), std::nullopt);
  EXPECT_EQ(HashOf(*store, "alice"), "$argon2id$alice");
  EXPECT_EQ(HashOf(*store, "bob"), "$argon2id$bob-new");
  EXPECT_EQ(UserAtOf(*store, "127.0.0.1"), "alice");
  EXPECT_EQ(UserAtOf(*store, "::1"), std::nullopt);
  for (size_t i = 0; i < hashes.size(); ++i) {
    ExpectSession(SessionOf(*store, hashes[i]),
                  {absl::StrCat("user", i), kCreated + absl::Microseconds(i),
                   kExpires + absl::Microseconds(i)},
                  absl::StrCat("hash ", i));
  }
  for (size_t i = 0; i < odd.size(); ++i) {
    EXPECT_EQ(NameOf(*store, absl::StrCat("odd-", i)), odd[i]) << i;
    EXPECT_EQ(HashOf(*store, odd[i]), odd[i]) << i;
  }
  EXPECT_TRUE(absl::IsAlreadyExists(store->AddUser("alice", "again")));
  store.reset();
  RawDb raw(data_dir + "/switchboard.db");
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), SqliteStore::kSchemaVersion);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM users"), 2 + static_cast<int64_t>(odd.size()));
}

TEST_F(SqliteStoreOpenTest, MigratesSchemaVersion1) {
  const std::string data_dir = dir_ + "/data";
  ASSERT_EQ(mkdir(data_dir.c_str(), 0700), 0);
  const std::string db = data_dir + "/switchboard.db";
  {
    // A version-1 database as a version-1 server left it (rollback journal:
    // the test does not assume what that server's journal mode was).
    RawDb raw(db);
    ASSERT_THAT(raw.Exec(kSchemaVersion1), IsEmpty());
    ASSERT_THAT(raw.Exec("PRAGMA user_version = 1"), IsEmpty());
    ASSERT_THAT(raw.Exec("INSERT INTO identities (address, name) VALUES ('127.0.0.1', 'old-name');"
                         "INSERT INTO users (name, password_hash) VALUES ('olduser', 'old-hash')"),
                IsEmpty());
  }
  {
    std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(NameOf(*store, "127.0.0.1"), "old-name");
    EXPECT_EQ(HashOf(*store, "olduser"), "old-hash");
    EXPECT_TRUE(absl::IsAlreadyExists(store->AddUser("olduser", "new")));
    ASSERT_OK(store->SetPasswordHash("olduser", "new-hash"));
    EXPECT_EQ(HashOf(*store, "olduser"), "new-hash");

    // The version-2 tables work.
    EXPECT_EQ(UserAtOf(*store, "127.0.0.1"), std::nullopt);
    ASSERT_OK(store->SetUserAt("127.0.0.1", "olduser"));
    EXPECT_EQ(UserAtOf(*store, "127.0.0.1"), "olduser");
    const std::string token(32, '\0');
    ASSERT_OK(store->AddSession(token, {"olduser", kCreated, kExpires}));
    ExpectSession(SessionOf(*store, token), {"olduser", kCreated, kExpires});
    EXPECT_EQ(store->DeleteOtherSessions("olduser", "other").value_or(-1), 1);
  }
  RawDb raw(db);
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 2);
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Tables(), "identities,sessions,user_at,users");
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                         " AND name IN ('sessions_by_user', 'sessions_by_expiry')"),
            2);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM identities"), 1);
}

TEST_F(SqliteStoreOpenTest, ReopeningAMigratedDatabaseDoesNotMigrateAgain) {
  const std::string data_dir = dir_ + "/data";
  ASSERT_EQ(mkdir(data_dir.c_str(), 0700), 0);
  {
    RawDb raw(data_dir + "/switchboard.db");
    ASSERT_THAT(raw.Exec(kSchemaVersion1), IsEmpty());
    ASSERT_THAT(raw.Exec("PRAGMA user_version = 1"), IsEmpty());
  }
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
    ASSERT_NE(store, nullptr) << round;
    ASSERT_OK(store->SetUserAt(absl::StrCat("10.0.0.", round), "u"));
  }
  std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(UserAtOf(*store, absl::StrCat("10.0.0.", round)), "u");
  }
}

TEST_F(SqliteStoreOpenTest, FailedMigrationStepIsRolledBackWhole) {
  const std::string data_dir = dir_ + "/data";
  ASSERT_EQ(mkdir(data_dir.c_str(), 0700), 0);
  const std::string db = data_dir + "/switchboard.db";
  {
    // Version 1 plus a stray user_at table: step 1 -> 2 creates sessions,
    // then fails on user_at.
    RawDb raw(db);
    ASSERT_THAT(raw.Exec(kSchemaVersion1), IsEmpty());
    ASSERT_THAT(raw.Exec("PRAGMA user_version = 1"), IsEmpty());
    ASSERT_THAT(raw.Exec("CREATE TABLE user_at (x);"
                         "INSERT INTO users (name, password_hash) VALUES ('keep', 'h')"),
                IsEmpty());
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("migrating"));
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 2"));
  EXPECT_THAT(store.status().message(), HasSubstr(db));
  {
    RawDb raw(db);
    EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 1);
    // The step's first table went with the rest.
    EXPECT_EQ(raw.Tables(), "identities,user_at,users");
    EXPECT_EQ(raw.QueryText("SELECT password_hash FROM users WHERE name = 'keep'"), "h");
    // Repaired by hand, it migrates; the failed Open left the lock free.
    ASSERT_THAT(raw.Exec("DROP TABLE user_at"), IsEmpty());
  }
  std::unique_ptr<SqliteStore> repaired = OpenStore(data_dir);
  ASSERT_NE(repaired, nullptr);
  EXPECT_EQ(HashOf(*repaired, "keep"), "h");
  ASSERT_OK(repaired->SetUserAt("::1", "keep"));
}

TEST_F(SqliteStoreOpenTest, NewerSchemaVersionIsRefused) {
  const std::string data_dir = dir_ + "/data";
  ASSERT_EQ(mkdir(data_dir.c_str(), 0700), 0);
  const std::string db = data_dir + "/switchboard.db";
  {
    RawDb raw(db);
    ASSERT_THAT(raw.Exec("CREATE TABLE future (x); PRAGMA user_version = 99"), IsEmpty());
  }
  // Twice: a refused Open leaves the lock free (else the second would say
  // "in use").
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
    ASSERT_FALSE(store.ok()) << attempt;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
    EXPECT_THAT(store.status().message(), HasSubstr(db));
  }
  RawDb raw(db);
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 99);
  EXPECT_EQ(raw.Tables(), "future");
}

}  // namespace
}  // namespace switchboard::store_test
