// Copyright Switchboard authors.

#include "tests/store/store_test_util.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "services/store/postgres_store.h"
#include "tests/testing/postgres_cluster.h"

namespace switchboard::store_test {

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/store_test.XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* made = mkdtemp(buffer.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << strerror(errno);
    return "";
  }
  return made;
}

RawDb::RawDb(const std::string& path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) ADD_FAILURE() << "sqlite3_open_v2 " << path << ": " << rc;
  sqlite3_busy_timeout(db_, 10000);
}

RawDb::~RawDb() { sqlite3_close(db_); }

std::string RawDb::Exec(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
  sqlite3_free(error);
  return message;
}

std::optional<std::string> RawDb::QueryText(const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "preparing " << sql << ": " << sqlite3_errmsg(db_);
    return std::nullopt;
  }
  std::optional<std::string> result;
  if (sqlite3_step(statement) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    result = std::string(text != nullptr ? text : "",
                         static_cast<size_t>(sqlite3_column_bytes(statement, 0)));
  }
  sqlite3_finalize(statement);
  return result;
}

int64_t RawDb::QueryInt(const std::string& sql) {
  std::optional<std::string> text = QueryText(sql);
  return text.has_value() ? std::strtoll(text->c_str(), nullptr, 10) : -1;
}

std::string RawDb::Tables() {
  return QueryText(
             "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
             " WHERE type = 'table' ORDER BY name)")
      .value_or("");
}

std::unique_ptr<SqliteStore> OpenStore(const std::string& data_dir) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::optional<std::string> NameOf(Store& store, absl::string_view address) {
  absl::StatusOr<std::optional<std::string>> name = store.FindName(address);
  EXPECT_TRUE(name.ok()) << name.status();
  return name.ok() ? *name : std::nullopt;
}
std::optional<std::string> HashOf(Store& store, absl::string_view user) {
  absl::StatusOr<std::optional<std::string>> hash = store.PasswordHash(user);
  EXPECT_TRUE(hash.ok()) << hash.status();
  return hash.ok() ? *hash : std::nullopt;
}
std::optional<std::string> UserAtOf(Store& store, absl::string_view address) {
  absl::StatusOr<std::optional<std::string>> user = store.UserAt(address);
  EXPECT_TRUE(user.ok()) << user.status();
  return user.ok() ? *user : std::nullopt;
}
std::optional<StoredSession> SessionOf(Store& store, absl::string_view token_hash) {
  absl::StatusOr<std::optional<StoredSession>> session = store.FindSession(token_hash);
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? *session : std::nullopt;
}

void ExpectSession(const std::optional<StoredSession>& found, const StoredSession& expected,
                   absl::string_view what) {
  ASSERT_TRUE(found.has_value()) << what;
  EXPECT_EQ(found->user, expected.user) << what;
  EXPECT_EQ(found->created, expected.created) << what;
  EXPECT_EQ(found->expires, expected.expires) << what;
}

std::vector<std::string> OddValues() {
  return {
      "O'Brien",
      "\"double\" and 'single' quotes",
      "'; DROP TABLE users; --",
      "Robert'); DROP TABLE identities;--",
      "x' OR '1'='1",
      "100% _wild_ \\back\\slash",
      "Zo\xC3\xAB \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x8E\x89",
      std::string("nul\0inside", 10),
      "line\nbreak\ttab\r",
      "",
      std::string(70000, 'y'),
  };
}

std::vector<std::string> BinaryHashes() {
  std::string all_zero(32, '\0');
  std::string last_one(32, '\0');
  last_one[31] = '\x01';
  std::string high(32, '\xFF');
  high[0] = '\0';
  high[16] = '\0';
  std::string mixed;
  for (int i = 0; i < 32; ++i) mixed.push_back(static_cast<char>(i * 37 % 256));
  return {all_zero,
          last_one,
          high,
          mixed,
          std::string("ab", 2),
          std::string("ab\0", 3),
          std::string(1, '\0')};
}

std::unique_ptr<Store> SqliteKind::Open() {
  dir_ = MakeTempDir();
  if (dir_.empty()) return nullptr;
  return OpenStore(dir_ + "/data");
}

int64_t SqliteKind::RowCount(absl::string_view table) {
  return RawDb(dir_ + "/data/switchboard.db")
      .QueryInt(absl::StrCat("SELECT count(*) FROM ", table));
}

std::string SqliteKind::Tables() { return RawDb(dir_ + "/data/switchboard.db").Tables(); }

void SqliteKind::InsertIdentityBehindTheBack(absl::string_view address, absl::string_view name) {
  RawDb raw(dir_ + "/data/switchboard.db");
  EXPECT_EQ(raw.Exec(absl::StrCat("INSERT INTO identities VALUES ('", address, "', '", name, "')")),
            "");
}

std::optional<std::string> SqliteKind::HashBehindTheBack(absl::string_view user) {
  return RawDb(dir_ + "/data/switchboard.db")
      .QueryText(absl::StrCat("SELECT password_hash FROM users WHERE name = '", user, "'"));
}

namespace {

// One server per test binary, started on first use and dropped when the
// tests end.
testing::PostgresCluster* Cluster() {
  class Holder : public ::testing::Environment {
   public:
    void TearDown() override { cluster.reset(); }
    std::unique_ptr<testing::PostgresCluster> cluster;
  };
  static Holder* const holder = [] {
    auto* made = new Holder;
    ::testing::AddGlobalTestEnvironment(made);  // owned by gtest from here
    absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> cluster =
        testing::PostgresCluster::Start();
    if (cluster.ok()) made->cluster = *std::move(cluster);
    if (!cluster.ok()) ADD_FAILURE() << cluster.status();
    return made;
  }();
  return holder->cluster.get();
}

}  // namespace

std::unique_ptr<Store> PostgresKind::Open() {
  testing::PostgresCluster* cluster = Cluster();
  if (cluster == nullptr) return nullptr;
  absl::StatusOr<std::string> uri = cluster->CreateDatabase();
  if (!uri.ok()) {
    ADD_FAILURE() << uri.status();
    return nullptr;
  }
  uri_ = *uri;
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri_, 8);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::optional<std::string> PostgresKind::Query(const std::string& sql) {
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(uri_);
  if (!connection.ok()) {
    ADD_FAILURE() << connection.status();
    return std::nullopt;
  }
  absl::StatusOr<PgResult> result = (*connection)->Query(sql.c_str());
  if (!result.ok()) {
    ADD_FAILURE() << result.status();
    return std::nullopt;
  }
  if (result->rows() == 0 || result->IsNull(0, 0)) return std::nullopt;
  return std::string(result->Bytes(0, 0));
}

int64_t PostgresKind::RowCount(absl::string_view table) {
  std::optional<std::string> text = Query(absl::StrCat("SELECT count(*) FROM ", table));
  return text.has_value() ? std::strtoll(text->c_str(), nullptr, 10) : -1;
}

std::string PostgresKind::Tables() {
  return Query(
             "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
             " WHERE schemaname = 'public' AND tablename <> 'switchboard_schema'")
      .value_or("");
}

void PostgresKind::InsertIdentityBehindTheBack(absl::string_view address, absl::string_view name) {
  // Plain ASCII only: the test's own literals.
  EXPECT_TRUE(Query(absl::StrCat("INSERT INTO identities VALUES (convert_to('", address,
                                 "', 'UTF8'), convert_to('", name, "', 'UTF8')) RETURNING 1"))
                  .has_value());
}

std::optional<std::string> PostgresKind::HashBehindTheBack(absl::string_view user) {
  return Query(absl::StrCat(
      "SELECT convert_from(password_hash, 'UTF8') FROM users WHERE name = convert_to('", user,
      "', 'UTF8')"));
}

}  // namespace switchboard::store_test
