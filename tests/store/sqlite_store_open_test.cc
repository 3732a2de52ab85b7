// Copyright Switchboard authors.
//
// SqliteStore::Open on real files in a fresh temporary directory per test:
// what it creates (directories, modes, a database in WAL mode), which data
// directories it refuses, a garbage database file, and one store per data
// directory.

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/store/sqlite_store.h"
#include "tests/store/store_test_util.h"

namespace switchboard::store_test {
namespace {

using ::testing::HasSubstr;

// The permission bits of `path`, or -1 when it does not exist.
int Mode(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return -1;
  return static_cast<int>(info.st_mode & 07777);
}

bool Exists(const std::string& path) { return Mode(path) != -1; }

bool IsRegularFile(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << path;
}

// ---------------------------------------------------------------------------
// Open: what it creates, what it refuses.

TEST_F(SqliteStoreOpenTest, CreatesPrivateDirectoriesAndDatabaseInWalMode) {
  const std::string data_dir = dir_ + "/a/b/c";
  const std::string db = data_dir + "/switchboard.db";
  // umask 0: the modes below must come from the store, not from the umask.
  const mode_t old_umask = umask(0);
  absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(data_dir);
  umask(old_umask);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<SqliteStore> store = *std::move(opened);

  EXPECT_EQ(SqliteStore::kFileName, "switchboard.db");
  EXPECT_EQ(store->path(), db);
  EXPECT_EQ(Mode(dir_ + "/a"), 0700);
  EXPECT_EQ(Mode(dir_ + "/a/b"), 0700);
  EXPECT_EQ(Mode(data_dir), 0700);
  EXPECT_EQ(Mode(db), 0600);
  EXPECT_TRUE(IsRegularFile(db));
  // The lock file: private too, naming this process.
  EXPECT_EQ(Mode(data_dir + "/LOCK"), 0600);
  EXPECT_EQ(ReadFile(data_dir + "/LOCK"), absl::StrCat(getpid(), "\n"));

  ASSERT_OK(store->SetName("127.0.0.1", "alice"));
  EXPECT_EQ(Mode(db), 0600);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string file = db + suffix;
    // SQLite makes them while the database is open in WAL mode.
    EXPECT_TRUE(Exists(file)) << file;
    EXPECT_EQ(Mode(file), 0600) << file;
  }

  RawDb raw(db);
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), SqliteStore::kSchemaVersion);
  EXPECT_EQ(raw.Tables(), "identities,sessions,user_at,users");
  // What returned OK is committed: another connection sees it.
  EXPECT_EQ(raw.QueryText("SELECT name FROM identities WHERE address = '127.0.0.1'"), "alice");
}

TEST_F(SqliteStoreOpenTest, ModesAreThoseOfTheStoreUnderTheUsualUmask) {
  const std::string data_dir = dir_ + "/data";
  const mode_t old_umask = umask(022);
  std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
  umask(old_umask);
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AddUser("alice", "hash"));
  EXPECT_EQ(Mode(data_dir), 0700);
  EXPECT_EQ(Mode(store->path()), 0600);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string file = store->path() + suffix;
    if (Exists(file)) {
      EXPECT_EQ(Mode(file), 0600) << file;
    }
  }
}

TEST_F(SqliteStoreOpenTest, OpensAnExistingDirectoryWithoutChangingItsMode) {
  // The directory exists already (mkdtemp made it 0700; loosen it): Open
  // uses it as it is.
  ASSERT_EQ(chmod(dir_.c_str(), 0750), 0);
  std::unique_ptr<SqliteStore> store = OpenStore(dir_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Mode(dir_), 0750);
  EXPECT_EQ(store->path(), dir_ + "/switchboard.db");
  EXPECT_TRUE(IsRegularFile(dir_ + "/switchboard.db"));
}

TEST_F(SqliteStoreOpenTest, AcceptsATrailingSlash) {
  std::unique_ptr<SqliteStore> store = OpenStore(dir_ + "/data/");
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->SetName("::1", "bob"));
  EXPECT_TRUE(IsRegularFile(dir_ + "/data/switchboard.db"));
  EXPECT_EQ(NameOf(*store, "::1"), "bob");
}

TEST_F(SqliteStoreOpenTest, EmptyDataDirIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open("");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("data_dir"));
}

TEST_F(SqliteStoreOpenTest, DataDirThatIsARegularFileIsRefused) {
  const std::string file = dir_ + "/not-a-dir";
  WriteFile(file, "precious");
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(file));
  EXPECT_THAT(store.status().message(), HasSubstr("not a directory"));
  // Left alone.
  EXPECT_TRUE(IsRegularFile(file));
  EXPECT_EQ(ReadFile(file), "precious");
}

TEST_F(SqliteStoreOpenTest, DataDirBelowARegularFileIsRefused) {
  const std::string file = dir_ + "/file";
  WriteFile(file, "precious");
  const std::string data_dir = file + "/data";
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(data_dir));
  EXPECT_THAT(store.status().message(), HasSubstr("cannot create"));
  EXPECT_EQ(ReadFile(file), "precious");
}

TEST_F(SqliteStoreOpenTest, GarbageDatabaseFileIsRefusedAndLeftAlone) {
  const std::string data_dir = dir_ + "/data";
  ASSERT_EQ(mkdir(data_dir.c_str(), 0700), 0);
  const std::string db = data_dir + "/switchboard.db";
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 8192; ++i) {
    x = x * 1103515245 + 12345;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  WriteFile(db, garbage);
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
    ASSERT_FALSE(store.ok()) << attempt;
    EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("in use"))) << attempt;
  }
  EXPECT_EQ(ReadFile(db), garbage);
  // Once the file is moved away, the directory is usable: nothing held on.
  ASSERT_EQ(rename(db.c_str(), (db + ".bad").c_str()), 0);
  std::unique_ptr<SqliteStore> store = OpenStore(data_dir);
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AddUser("alice", "h"));
}

// ---------------------------------------------------------------------------
// One server per data directory.

TEST_F(SqliteStoreOpenTest, SecondOpenOfTheSameDirectoryIsRefusedWhileTheFirstIsOpen) {
  const std::string data_dir = dir_ + "/data";
  std::unique_ptr<SqliteStore> first = OpenStore(data_dir);
  ASSERT_NE(first, nullptr);
  ASSERT_OK(first->SetName("127.0.0.1", "alice"));

  // The same directory however spelled.
  for (const std::string& spelling :
       {data_dir, data_dir + "/", data_dir + "/.", dir_ + "/./data"}) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> second = SqliteStore::Open(spelling);
    ASSERT_FALSE(second.ok()) << spelling;
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
    EXPECT_THAT(second.status().message(), HasSubstr("is in use by another Switchboard server"));
    EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("(pid ", getpid(), ")")));
    EXPECT_THAT(second.status().message(), HasSubstr(spelling));
  }

  // The refused opens disturbed neither the first store nor the lock file.
  EXPECT_EQ(ReadFile(data_dir + "/LOCK"), absl::StrCat(getpid(), "\n"));
  ASSERT_OK(first->SetName("::1", "bob"));
  EXPECT_EQ(NameOf(*first, "127.0.0.1"), "alice");
  EXPECT_EQ(NameOf(*first, "::1"), "bob");

  first.reset();
  std::unique_ptr<SqliteStore> again = OpenStore(data_dir);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(NameOf(*again, "127.0.0.1"), "alice");
  EXPECT_EQ(NameOf(*again, "::1"), "bob");
}

TEST_F(SqliteStoreOpenTest, DifferentDirectoriesAreIndependent) {
  std::unique_ptr<SqliteStore> one = OpenStore(dir_ + "/one");
  std::unique_ptr<SqliteStore> two = OpenStore(dir_ + "/two");
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  ASSERT_OK(one->SetName("127.0.0.1", "one"));
  ASSERT_OK(two->SetName("127.0.0.1", "two"));
  EXPECT_EQ(NameOf(*one, "127.0.0.1"), "one");
  EXPECT_EQ(NameOf(*two, "127.0.0.1"), "two");
}

}  // namespace
}  // namespace switchboard::store_test
