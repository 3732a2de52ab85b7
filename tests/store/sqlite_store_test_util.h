// Copyright Switchboard authors.
//
// sqlite_store_test_util.h: what the SqliteStore tests share. Each test runs
// on real SQLite files in a fresh temporary directory (the fixtures
// SqliteStoreOpenTest and SqliteStoreTest); RawDb looks at a database
// through the sqlite3 C API, behind the store's back; the *Of readers unwrap
// the store's answers; OddValues and BinaryHashes are the values that must
// round-trip exactly.

#ifndef SWITCHBOARD_TESTS_STORE_SQLITE_STORE_TEST_UTIL_H_
#define SWITCHBOARD_TESTS_STORE_SQLITE_STORE_TEST_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/store/sqlite_store.h"
#include "services/store/store.h"

#define ASSERT_OK(expr)                       \
  do {                                        \
    const absl::Status sb_status = (expr);    \
    ASSERT_TRUE(sb_status.ok()) << sb_status; \
  } while (0)
#define EXPECT_OK(expr)                       \
  do {                                        \
    const absl::Status sb_status = (expr);    \
    EXPECT_TRUE(sb_status.ok()) << sb_status; \
  } while (0)

namespace switchboard::sqlite_store_test {

// A fresh directory of its own under TEST_TMPDIR ("" and a test failure when
// it cannot be made).
std::string MakeTempDir();

// A connection of the test's own, through the sqlite3 C API. Never keep one
// open across SqliteStore::Open: Open opens and closes the database file
// itself, which drops every POSIX lock this process holds on it.
class RawDb {
 public:
  explicit RawDb(const std::string& path);
  ~RawDb();
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs `sql` (any number of statements); "" on success, else the error.
  std::string Exec(const std::string& sql);
  // The first column of the first row, as text; nullopt for no row or an
  // error.
  std::optional<std::string> QueryText(const std::string& sql);
  // The first column of the first row as a number; -1 for no row.
  int64_t QueryInt(const std::string& sql);
  // The names of the tables, comma-separated in order.
  std::string Tables();

 private:
  sqlite3* db_ = nullptr;
};

// Opens `data_dir`, failing the test (and returning null) when it cannot.
std::unique_ptr<SqliteStore> OpenStore(const std::string& data_dir);

// Unwrapping readers: a failed call fails the test and reads as nullopt.
std::optional<std::string> NameOf(Store& store, absl::string_view address);
std::optional<std::string> HashOf(Store& store, absl::string_view user);
std::optional<std::string> UserAtOf(Store& store, absl::string_view address);
std::optional<StoredSession> SessionOf(Store& store, absl::string_view token_hash);

// Fails the test unless `found` is `expected`, field by field.
void ExpectSession(const std::optional<StoredSession>& found, const StoredSession& expected,
                   absl::string_view what = "");

// Times with microsecond parts, as sessions have them.
inline const absl::Time kCreated = absl::FromUnixMicros(1'700'000'000'123'456);
inline const absl::Time kExpires = absl::FromUnixMicros(1'702'592'000'654'321);

// Values that must round-trip exactly: quotes, SQL, multi-byte UTF-8, a NUL,
// the empty string and a long one.
std::vector<std::string> OddValues();

// Token hashes as the auth service makes them: 32 binary bytes, here with
// zero bytes in them and pairs that differ only past a zero.
std::vector<std::string> BinaryHashes();

// Open: a fresh directory per test, in which the test opens stores itself.
class SqliteStoreOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }

  std::string dir_;
};

// The Store methods, on a store opened for each test.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    store_ = OpenStore(dir_ + "/data");
    ASSERT_NE(store_, nullptr);
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace switchboard::sqlite_store_test

#endif  // SWITCHBOARD_TESTS_STORE_SQLITE_STORE_TEST_UTIL_H_
