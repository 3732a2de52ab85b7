// Copyright Switchboard authors.
//
// store_test_util.h: what the store tests share. The Store suite is typed:
// each test runs on a fresh SQLite store in a temporary directory and on a
// fresh database of a real PostgreSQL server (one per test binary, started
// by pg_virtualenv on first use), through the fixture StoreTest<Kind>. The
// SQLite-only tests use SqliteStoreOpenTest. RawDb looks at a SQLite
// database through the sqlite3 C API, behind the store's back; the *Of
// readers unwrap the store's answers; OddValues and BinaryHashes are the
// values that must round-trip exactly.

#ifndef SWITCHBOARD_TESTS_STORE_STORE_TEST_UTIL_H_
#define SWITCHBOARD_TESTS_STORE_STORE_TEST_UTIL_H_

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
#include "services/store/postgres_connection.h"
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

namespace switchboard::store_test {

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

// A fresh SQLite store in a temporary directory, and what a test may do
// behind its back.
class SqliteKind {
 public:
  static constexpr char kName[] = "sqlite";
  // The tables a fresh store has, in name order.
  static constexpr char kTables[] = "identities,sessions,user_at,users";

  // A new store in a new directory (null and a test failure if it fails).
  std::unique_ptr<Store> Open();
  int64_t RowCount(absl::string_view table);
  std::string Tables();
  // Writes a name through a connection of the test's own.
  void InsertIdentityBehindTheBack(absl::string_view address, absl::string_view name);
  std::optional<std::string> HashBehindTheBack(absl::string_view user);

 private:
  std::string dir_;
};

// A fresh database on the test binary's PostgreSQL server.
class PostgresKind {
 public:
  static constexpr char kName[] = "postgresql";
  static constexpr char kTables[] = "identities,login_failures,sessions,user_at,users";

  std::unique_ptr<Store> Open();
  int64_t RowCount(absl::string_view table);
  std::string Tables();
  void InsertIdentityBehindTheBack(absl::string_view address, absl::string_view name);
  std::optional<std::string> HashBehindTheBack(absl::string_view user);

 private:
  // The first row's first column of `sql` (text), on a connection of the
  // test's own.
  std::optional<std::string> Query(const std::string& sql);
  std::string uri_;
};

// The Store methods, on a store of each kind opened for each test.
template <typename Kind>
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = kind_.Open();
    ASSERT_NE(store_, nullptr);
  }

  Kind kind_;
  std::unique_ptr<Store> store_;
};

class KindNames {
 public:
  template <typename Kind>
  static std::string GetName(int) {
    return Kind::kName;
  }
};

using StoreKinds = ::testing::Types<SqliteKind, PostgresKind>;
TYPED_TEST_SUITE(StoreTest, StoreKinds, KindNames);

}  // namespace switchboard::store_test

#endif  // SWITCHBOARD_TESTS_STORE_STORE_TEST_UTIL_H_
