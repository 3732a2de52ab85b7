// Copyright Switchboard authors.
//
// SqliteStore on real SQLite files in a fresh temporary directory per test:
// what Open creates (modes, WAL, schema version), every Store method, odd
// values, reopening, migration from schema version 1, refusal of newer,
// foreign and locked databases, and concurrent callers on real threads.

#include "services/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/thread_pool.h"
#include "services/store/store.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

#define SB_CONCAT_INNER(a, b) a##b
#define SB_CONCAT(a, b) SB_CONCAT_INNER(a, b)

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
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(SB_CONCAT(sb_status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(var, lhs, expr) \
  auto var = (expr);                              \
  ASSERT_TRUE(var.ok()) << var.status();          \
  lhs = std::move(*var)

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

// A fresh directory of its own under TEST_TMPDIR.
std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/sqlite_store_test.XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* made = mkdtemp(buffer.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << strerror(errno);
    return "";
  }
  return made;
}

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

// A connection of the test's own, through the sqlite3 C API. Never keep one
// open across SqliteStore::Open: Open opens and closes the database file
// itself, which drops every POSIX lock this process holds on it.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    rc_ = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc_ != SQLITE_OK) ADD_FAILURE() << "sqlite3_open_v2 " << path << ": " << rc_;
    sqlite3_busy_timeout(db_, 10000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs `sql` (any number of statements); "" on success, else the error.
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    return message;
  }

  // The first column of the first row, as text; nullopt for no row or an
  // error.
  std::optional<std::string> QueryText(const std::string& sql) {
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

  int64_t QueryInt(const std::string& sql) {
    std::optional<std::string> text = QueryText(sql);
    return text.has_value() ? std::strtoll(text->c_str(), nullptr, 10) : -1;
  }

  // The names of the tables, comma-separated in order.
  std::string Tables() {
    return QueryText(
               "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
               " WHERE type = 'table' ORDER BY name)")
        .value_or("");
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
};

// A one-way gate that threads wait on, so that they start together.
// std::mutex so that ThreadSanitizer sees the synchronization.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Opens `data_dir`, failing the test (and returning null) when it cannot.
std::unique_ptr<SqliteStore> OpenStore(const std::string& data_dir) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Unwrapping readers: a failed call fails the test and reads as nullopt.
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

// Fails the test unless `found` is `expected`, field by field.
void ExpectSession(const std::optional<StoredSession>& found, const StoredSession& expected,
                   absl::string_view what = "") {
  ASSERT_TRUE(found.has_value()) << what;
  EXPECT_EQ(found->user, expected.user) << what;
  EXPECT_EQ(found->created, expected.created) << what;
  EXPECT_EQ(found->expires, expected.expires) << what;
}

// Times with microsecond parts, as sessions have them.
const absl::Time kCreated = absl::FromUnixMicros(1'700'000'000'123'456);
const absl::Time kExpires = absl::FromUnixMicros(1'702'592'000'654'321);

// Values that must round-trip exactly: quotes, SQL, multi-byte UTF-8, a NUL,
// the empty string and a long one.
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

// Token hashes as the auth service makes them: 32 binary bytes, here with
// zero bytes in them and pairs that differ only past a zero.
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

// ---------------------------------------------------------------------------
// Open: what it creates, what it refuses.

class SqliteStoreOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }

  std::string dir_;
};

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

// ---------------------------------------------------------------------------
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

TEST_F(SqliteStoreTest, Names) {
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(store_->SetName("127.0.0.1", "alice"));
  ASSERT_OK(store_->SetName("::1", "bob"));
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), "alice");
  EXPECT_EQ(NameOf(*store_, "::1"), "bob");
  // Addresses match exactly.
  EXPECT_EQ(NameOf(*store_, "127.0.0.10"), std::nullopt);
  EXPECT_EQ(NameOf(*store_, "127.0.0."), std::nullopt);

  // Set replaces.
  ASSERT_OK(store_->SetName("127.0.0.1", "alice2"));
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), "alice2");
  EXPECT_EQ(NameOf(*store_, "::1"), "bob");

  absl::StatusOr<bool> forgot = store_->ForgetName("127.0.0.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_TRUE(*forgot);
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), std::nullopt);
  forgot = store_->ForgetName("127.0.0.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_FALSE(*forgot);
  forgot = store_->ForgetName("192.0.2.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_FALSE(*forgot);
  EXPECT_EQ(NameOf(*store_, "::1"), "bob");

  // Forgotten, it can be set again.
  ASSERT_OK(store_->SetName("127.0.0.1", "carol"));
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), "carol");
}

TEST_F(SqliteStoreTest, Users) {
  EXPECT_EQ(HashOf(*store_, "alice"), std::nullopt);
  ASSERT_OK(store_->AddUser("alice", "$argon2id$v=19$m=65536,t=2,p=1$salt$hash"));
  EXPECT_EQ(HashOf(*store_, "alice"), "$argon2id$v=19$m=65536,t=2,p=1$salt$hash");

  const absl::Status duplicate = store_->AddUser("alice", "other");
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists) << duplicate;
  EXPECT_THAT(duplicate.message(), HasSubstr("alice"));
  // The first hash stays.
  EXPECT_EQ(HashOf(*store_, "alice"), "$argon2id$v=19$m=65536,t=2,p=1$salt$hash");

  EXPECT_EQ(HashOf(*store_, "nobody"), std::nullopt);
  EXPECT_EQ(HashOf(*store_, "alic"), std::nullopt);
  const absl::Status missing = store_->SetPasswordHash("nobody", "h");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  // ... and did not create the user.
  EXPECT_EQ(HashOf(*store_, "nobody"), std::nullopt);

  ASSERT_OK(store_->AddUser("bob", "bob-1"));
  ASSERT_OK(store_->SetPasswordHash("alice", "alice-2"));
  EXPECT_EQ(HashOf(*store_, "alice"), "alice-2");
  EXPECT_EQ(HashOf(*store_, "bob"), "bob-1");
  // Setting the same hash again is not "not found".
  EXPECT_OK(store_->SetPasswordHash("alice", "alice-2"));
}

TEST_F(SqliteStoreTest, UserAt) {
  EXPECT_EQ(UserAtOf(*store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(store_->SetUserAt("127.0.0.1", "alice"));
  ASSERT_OK(store_->SetUserAt("::1", "bob"));
  EXPECT_EQ(UserAtOf(*store_, "127.0.0.1"), "alice");
  EXPECT_EQ(UserAtOf(*store_, "::1"), "bob");
  ASSERT_OK(store_->SetUserAt("127.0.0.1", "carol"));
  EXPECT_EQ(UserAtOf(*store_, "127.0.0.1"), "carol");
  EXPECT_EQ(UserAtOf(*store_, "::1"), "bob");
  // Independent of the names by address.
  EXPECT_EQ(NameOf(*store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(store_->SetName("127.0.0.1", "a-name"));
  EXPECT_EQ(UserAtOf(*store_, "127.0.0.1"), "carol");
}

TEST_F(SqliteStoreTest, SessionsRoundTripToTheMicrosecond) {
  const std::vector<std::string> hashes = BinaryHashes();
  EXPECT_EQ(SessionOf(*store_, hashes[0]), std::nullopt);

  const StoredSession alice{"alice", kCreated, kExpires};
  ASSERT_OK(store_->AddSession(hashes[0], alice));
  ExpectSession(SessionOf(*store_, hashes[0]), alice);

  // Before 1970, at 0, one microsecond apart, far ahead.
  const StoredSession odd_times{"bob", absl::FromUnixMicros(-123'456'789), absl::FromUnixMicros(0)};
  ASSERT_OK(store_->AddSession(hashes[1], odd_times));
  ExpectSession(SessionOf(*store_, hashes[1]), odd_times);
  const StoredSession close{"carol", absl::FromUnixMicros(1), absl::FromUnixMicros(2)};
  ASSERT_OK(store_->AddSession(hashes[2], close));
  ExpectSession(SessionOf(*store_, hashes[2]), close);
  const StoredSession far{
      "dave",
      absl::FromCivil(absl::CivilSecond(2200, 1, 1, 0, 0, 0), absl::UTCTimeZone()) +
          absl::Microseconds(999'999),
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
          absl::Microseconds(1)};
  ASSERT_OK(store_->AddSession(hashes[3], far));
  ExpectSession(SessionOf(*store_, hashes[3]), far);

  // Finer than a microsecond is not kept, but nothing coarser is lost.
  const absl::Time fine = kCreated + absl::Nanoseconds(999);
  ASSERT_OK(store_->AddSession(hashes[4], {"erin", fine, fine}));
  std::optional<StoredSession> found = SessionOf(*store_, hashes[4]);
  ASSERT_TRUE(found.has_value());
  EXPECT_LT(absl::AbsDuration(found->created - fine), absl::Microseconds(1));
  EXPECT_LT(absl::AbsDuration(found->expires - fine), absl::Microseconds(1));
}

TEST_F(SqliteStoreTest, DuplicateSessionHashIsRefusedAndKeepsTheFirst) {
  const std::string hash(32, '\x07');
  ASSERT_OK(store_->AddSession(hash, {"alice", kCreated, kExpires}));
  EXPECT_FALSE(store_->AddSession(hash, {"mallory", kCreated, kExpires}).ok());
  ExpectSession(SessionOf(*store_, hash), {"alice", kCreated, kExpires});
}

TEST_F(SqliteStoreTest, BinaryTokenHashesAreDistinctKeys) {
  const std::vector<std::string> hashes = BinaryHashes();
  for (size_t i = 0; i < hashes.size(); ++i) {
    ASSERT_OK(store_->AddSession(hashes[i], {absl::StrCat("user", i), kCreated, kExpires}));
  }
  for (size_t i = 0; i < hashes.size(); ++i) {
    std::optional<StoredSession> found = SessionOf(*store_, hashes[i]);
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->user, absl::StrCat("user", i));
  }
  // Prefixes (up to a zero byte or not) are other keys.
  EXPECT_EQ(SessionOf(*store_, std::string(16, '\0')), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, std::string(33, '\0')), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, std::string("a", 1)), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, std::string(2, '\0')), std::nullopt);
  // Longer by a zero byte: another key.
  EXPECT_EQ(SessionOf(*store_, std::string("ab\0\0", 4)), std::nullopt);

  // Deleting one deletes that one only.
  absl::StatusOr<bool> deleted = store_->DeleteSession(hashes[0]);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(SessionOf(*store_, hashes[0]), std::nullopt);
  for (size_t i = 1; i < hashes.size(); ++i) {
    EXPECT_TRUE(SessionOf(*store_, hashes[i]).has_value()) << i;
  }
  deleted = store_->DeleteSession(std::string("ab\0", 3));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_TRUE(SessionOf(*store_, std::string("ab", 2)).has_value());
  EXPECT_EQ(SessionOf(*store_, std::string("ab\0", 3)), std::nullopt);
}

TEST_F(SqliteStoreTest, DeleteSession) {
  const std::string hash(32, '\x42');
  absl::StatusOr<bool> deleted = store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(*deleted);
  ASSERT_OK(store_->AddSession(hash, {"alice", kCreated, kExpires}));
  deleted = store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(SessionOf(*store_, hash), std::nullopt);
  deleted = store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(*deleted);
  // The hash can be used again.
  ASSERT_OK(store_->AddSession(hash, {"bob", kCreated, kExpires}));
  ExpectSession(SessionOf(*store_, hash), {"bob", kCreated, kExpires});
}

TEST_F(SqliteStoreTest, DeleteOtherSessionsKeepsTheGivenOneAndOtherUsers) {
  const std::string a1(32, '\x01'), a2(32, '\x02'), a3(32, '\0'), a4("\0\0a4", 4);
  const std::string b1(32, '\x0b'), p1(32, '\x0c');
  for (const std::string* hash : {&a1, &a2, &a3, &a4}) {
    ASSERT_OK(store_->AddSession(*hash, {"alice", kCreated, kExpires}));
  }
  ASSERT_OK(store_->AddSession(b1, {"bob", kCreated, kExpires}));
  // A user whose name starts like alice's is another user.
  ASSERT_OK(store_->AddSession(p1, {"alice2", kCreated, kExpires}));

  absl::StatusOr<int> ended = store_->DeleteOtherSessions("alice", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 3);
  EXPECT_TRUE(SessionOf(*store_, a3).has_value());
  EXPECT_EQ(SessionOf(*store_, a1), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, a2), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, a4), std::nullopt);
  ExpectSession(SessionOf(*store_, b1), {"bob", kCreated, kExpires});
  ExpectSession(SessionOf(*store_, p1), {"alice2", kCreated, kExpires});

  // Nothing more to end.
  ended = store_->DeleteOtherSessions("alice", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 0);
  // A user without sessions.
  ended = store_->DeleteOtherSessions("nobody", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 0);

  // `keep` naming another user's session keeps nothing of this user's and
  // does not touch the other's.
  ASSERT_OK(store_->AddSession(a1, {"alice", kCreated, kExpires}));
  ended = store_->DeleteOtherSessions("alice", b1);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 2);
  EXPECT_EQ(SessionOf(*store_, a1), std::nullopt);
  EXPECT_EQ(SessionOf(*store_, a3), std::nullopt);
  EXPECT_TRUE(SessionOf(*store_, b1).has_value());
  EXPECT_TRUE(SessionOf(*store_, p1).has_value());
}

TEST_F(SqliteStoreTest, DeleteOtherSessionsWithAnUnknownKeepEndsAll) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(
        store_->AddSession(std::string(32, static_cast<char>(i)), {"alice", kCreated, kExpires}));
  }
  // A zero-length hash (not a null one) that matches none.
  const std::string none;
  absl::StatusOr<int> ended = store_->DeleteOtherSessions("alice", none);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 5);
}

TEST_F(SqliteStoreTest, DeleteExpiredSessionsDropsOnlyThoseBeforeNow) {
  const absl::Time now = kCreated + absl::Hours(1);
  struct Case {
    std::string hash;
    absl::Time expires;
    bool expired;
  };
  const std::vector<Case> cases = {
      {std::string(32, '\x01'), now - absl::Microseconds(1), true},
      {std::string(32, '\x02'), now - absl::Hours(1), true},
      {std::string(32, '\x03'), absl::FromUnixMicros(-5), true},
      {std::string(32, '\x04'), now, false},  // not before now
      {std::string(32, '\x05'), now + absl::Microseconds(1), false},
      {std::string(32, '\x06'), now + absl::Hours(24 * 365), false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    // Two users: expiry ignores whose session it is.
    ASSERT_OK(store_->AddSession(cases[i].hash,
                                 {i % 2 == 0 ? "alice" : "bob", kCreated, cases[i].expires}));
  }
  absl::StatusOr<int> dropped = store_->DeleteExpiredSessions(now);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  for (const Case& c : cases) {
    EXPECT_EQ(SessionOf(*store_, c.hash).has_value(), !c.expired) << c.expires;
  }
  dropped = store_->DeleteExpiredSessions(now);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  // An earlier "now" drops nothing more.
  dropped = store_->DeleteExpiredSessions(now - absl::Hours(2));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  dropped = store_->DeleteExpiredSessions(now + absl::Hours(24 * 366));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  for (const Case& c : cases) EXPECT_EQ(SessionOf(*store_, c.hash), std::nullopt);
}

TEST_F(SqliteStoreTest, OddValuesRoundTripExactly) {
  const std::vector<std::string> odd = OddValues();
  for (size_t i = 0; i < odd.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string& v = odd[i];
    // As values ...
    ASSERT_OK(store_->SetName(absl::StrCat("addr-", i), v));
    ASSERT_OK(store_->SetUserAt(absl::StrCat("addr-", i), v));
    ASSERT_OK(store_->AddSession(absl::StrCat("token-", i), {v, kCreated, kExpires}));
    // ... and as keys.
    ASSERT_OK(store_->SetName(v, absl::StrCat("name-", i)));
    ASSERT_OK(store_->SetUserAt(v, absl::StrCat("user-", i)));
    ASSERT_OK(store_->AddUser(v, v));
    ASSERT_OK(store_->AddSession(v, {absl::StrCat("user-", i), kCreated, kExpires}));
  }
  for (size_t i = 0; i < odd.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string& v = odd[i];
    EXPECT_EQ(NameOf(*store_, absl::StrCat("addr-", i)), v);
    EXPECT_EQ(UserAtOf(*store_, absl::StrCat("addr-", i)), v);
    ExpectSession(SessionOf(*store_, absl::StrCat("token-", i)), {v, kCreated, kExpires});
    EXPECT_EQ(NameOf(*store_, v), absl::StrCat("name-", i));
    EXPECT_EQ(UserAtOf(*store_, v), absl::StrCat("user-", i));
    EXPECT_EQ(HashOf(*store_, v), v);
    ExpectSession(SessionOf(*store_, v), {absl::StrCat("user-", i), kCreated, kExpires});
    EXPECT_TRUE(absl::IsAlreadyExists(store_->AddUser(v, "again")));
  }
  // Values with the odd ones' NUL cut off are other keys.
  EXPECT_EQ(HashOf(*store_, "nul"), std::nullopt);
  EXPECT_EQ(NameOf(*store_, "nul"), std::nullopt);

  // Deleting by an odd key deletes that one only.
  for (size_t i = 0; i < odd.size(); ++i) {
    absl::StatusOr<bool> forgot = store_->ForgetName(odd[i]);
    ASSERT_TRUE(forgot.ok()) << forgot.status();
    EXPECT_TRUE(*forgot) << i;
    EXPECT_EQ(NameOf(*store_, absl::StrCat("addr-", i)), odd[i]) << i;
  }
  // One DeleteOtherSessions per odd user name ends exactly its own.
  for (size_t i = 0; i < odd.size(); ++i) {
    absl::StatusOr<int> ended = store_->DeleteOtherSessions(odd[i], "keep-nothing");
    ASSERT_TRUE(ended.ok()) << ended.status();
    EXPECT_EQ(*ended, 1) << i;
  }

  // The injection attempts injected nothing.
  store_.reset();
  RawDb raw(dir_ + "/data/switchboard.db");
  EXPECT_EQ(raw.Tables(), "identities,sessions,user_at,users");
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM users"), static_cast<int64_t>(odd.size()));
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM identities"), static_cast<int64_t>(odd.size()));
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM user_at"), 2 * static_cast<int64_t>(odd.size()));
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sessions"), static_cast<int64_t>(odd.size()));
}

TEST_F(SqliteStoreTest, CommittedWritesAreVisibleToAnotherConnectionAtOnce) {
  RawDb raw(store_->path());
  ASSERT_OK(store_->AddUser("alice", "h1"));
  EXPECT_EQ(raw.QueryText("SELECT password_hash FROM users WHERE name = 'alice'"), "h1");
  ASSERT_OK(store_->SetPasswordHash("alice", "h2"));
  EXPECT_EQ(raw.QueryText("SELECT password_hash FROM users WHERE name = 'alice'"), "h2");
  ASSERT_OK(store_->AddSession("t", {"alice", kCreated, kExpires}));
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sessions"), 1);
  ASSERT_TRUE(store_->DeleteSession("t").value_or(false));
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sessions"), 0);
  // And the other way: a write by another connection is read by the store.
  ASSERT_THAT(raw.Exec("INSERT INTO identities VALUES ('192.0.2.7', 'outside')"), IsEmpty());
  EXPECT_EQ(NameOf(*store_, "192.0.2.7"), "outside");
}

// ---------------------------------------------------------------------------
// Concurrency.

std::string Addr(int task, int op) {
  return absl::StrCat("10.", task, ".", op / 256, ".", op % 256);
}
std::string UserName(int task, int op) { return absl::StrCat("user-", task, "-", op); }
std::string Token(int task, int op) {
  std::string token(32, '\0');
  token[0] = static_cast<char>(task);
  token[1] = static_cast<char>(op);
  token[2] = static_cast<char>(op >> 8);
  return token;
}
constexpr int kTasks = 8;
constexpr int kOpsPerTask = 100;

TEST_F(SqliteStoreTest, ConcurrentMixedOperationsFromAThreadPool) {
  absl::Mutex mu;
  std::vector<std::string> errors;  // guarded by mu
  std::atomic<int> calls{0};
  const auto check = [&](bool ok, const std::string& what) {
    calls.fetch_add(1, std::memory_order_relaxed);
    if (ok) return;
    absl::MutexLock lock(&mu);
    errors.push_back(what);
  };

  {
    ThreadPool pool(4, 64);
    absl::BlockingCounter done(kTasks);
    for (int task = 0; task < kTasks; ++task) {
      ASSERT_TRUE(pool.Submit([&, task]() {
        Store& store = *store_;
        for (int op = 0; op < kOpsPerTask; ++op) {
          const std::string tag = absl::StrCat("task ", task, " op ", op, ": ");
          switch (op % 5) {
            case 0: {
              absl::Status s = store.SetName(Addr(task, op), UserName(task, op));
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> name = store.FindName(Addr(task, op));
              check(name.ok() && *name == UserName(task, op), tag + "FindName");
              break;
            }
            case 1: {
              absl::Status s =
                  store.AddUser(UserName(task, op), Token(task, op).substr(0, 3) + "h");
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> hash =
                  store.PasswordHash(UserName(task, op));
              check(hash.ok() && hash->has_value(), tag + "PasswordHash");
              break;
            }
            case 2: {
              absl::Status s = store.AddSession(
                  Token(task, op), {UserName(task, op - 1), kCreated + absl::Microseconds(op),
                                    kExpires + absl::Microseconds(task)});
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<StoredSession>> session =
                  store.FindSession(Token(task, op));
              check(session.ok() && session->has_value() &&
                        (*session)->user == UserName(task, op - 1),
                    tag + "FindSession");
              break;
            }
            case 3: {
              absl::Status s = store.SetUserAt(Addr(task, op), UserName(task, op - 2));
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> user = store.UserAt(Addr(task, op));
              check(user.ok() && *user == UserName(task, op - 2), tag + "UserAt");
              break;
            }
            case 4: {
              // Reads of what other tasks may be writing, and writes that
              // change nothing.
              const int other = (task + 1) % kTasks;
              check(store.FindName(Addr(other, op - 4)).ok(), tag + "FindName other");
              check(store.PasswordHash(UserName(other, op - 3)).ok(), tag + "PasswordHash other");
              check(store.FindSession(Token(other, op - 2)).ok(), tag + "FindSession other");
              absl::StatusOr<int> dropped = store.DeleteExpiredSessions(absl::UnixEpoch());
              check(dropped.ok() && *dropped == 0, tag + "DeleteExpiredSessions");
              absl::StatusOr<bool> deleted = store.DeleteSession(absl::StrCat("none", task));
              check(deleted.ok() && !*deleted, tag + "DeleteSession");
              absl::StatusOr<int> ended = store.DeleteOtherSessions("nobody", "x");
              check(ended.ok() && *ended == 0, tag + "DeleteOtherSessions");
              break;
            }
          }
        }
        done.DecrementCount();
      }));
    }
    done.Wait();
    EXPECT_EQ(pool.Stop(absl::InfiniteDuration()), 0u);
  }

  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(errors, IsEmpty());
  }
  EXPECT_EQ(calls.load(), kTasks * (kOpsPerTask / 5) * (2 + 2 + 2 + 2 + 6));

  for (int task = 0; task < kTasks; ++task) {
    for (int op = 0; op < kOpsPerTask; ++op) {
      SCOPED_TRACE(absl::StrCat("task ", task, " op ", op));
      switch (op % 5) {
        case 0:
          EXPECT_EQ(NameOf(*store_, Addr(task, op)), UserName(task, op));
          break;
        case 1:
          EXPECT_EQ(HashOf(*store_, UserName(task, op)), Token(task, op).substr(0, 3) + "h");
          break;
        case 2:
          ExpectSession(SessionOf(*store_, Token(task, op)),
                        {UserName(task, op - 1), kCreated + absl::Microseconds(op),
                         kExpires + absl::Microseconds(task)});
          break;
        case 3:
          EXPECT_EQ(UserAtOf(*store_, Addr(task, op)), UserName(task, op - 2));
          break;
        default:
          break;
      }
    }
  }
  // Nothing beyond what was written.
  store_.reset();
  RawDb raw(dir_ + "/data/switchboard.db");
  const int64_t each = kTasks * kOpsPerTask / 5;
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM identities"), each);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM users"), each);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sessions"), each);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM user_at"), each);
}

TEST_F(SqliteStoreTest, MoreConcurrentCallersThanPooledConnections) {
  // More threads at once than the store keeps idle connections (16), so that
  // connections are opened beyond the pool and closed when returned.
  constexpr int kThreads = 24;
  constexpr int kOps = 10;
  Gate start;
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (!start.Wait()) {
        results[t] = absl::DeadlineExceededError("gate");
        return;
      }
      for (int op = 0; op < kOps; ++op) {
        absl::Status s = store_->SetName(Addr(t, op), UserName(t, op));
        if (s.ok()) {
          absl::StatusOr<std::optional<std::string>> name = store_->FindName(Addr(t, op));
          if (!name.ok()) {
            s = name.status();
          } else if (*name != UserName(t, op)) {
            s = absl::InternalError(absl::StrCat("read back ", name->value_or("nothing")));
          }
        }
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
    });
  }
  start.Open();
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(results[t].ok()) << t << ": " << results[t];
  for (int t = 0; t < kThreads; ++t) {
    for (int op = 0; op < kOps; ++op) EXPECT_EQ(NameOf(*store_, Addr(t, op)), UserName(t, op));
  }
}

TEST_F(SqliteStoreTest, RacingAddUserOfTheSameNameExactlyOneWins) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    const std::string user = absl::StrCat("racer-", round);
    Gate start;
    absl::Status results[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        results[t] = start.Wait() ? store_->AddUser(user, absl::StrCat("hash-", t))
                                  : absl::DeadlineExceededError("gate");
      });
    }
    start.Open();
    for (std::thread& thread : threads) thread.join();
    const int winners = (results[0].ok() ? 1 : 0) + (results[1].ok() ? 1 : 0);
    ASSERT_EQ(winners, 1) << results[0] << " / " << results[1];
    const int winner = results[0].ok() ? 0 : 1;
    EXPECT_EQ(results[1 - winner].code(), absl::StatusCode::kAlreadyExists) << results[1 - winner];
    EXPECT_EQ(HashOf(*store_, user), absl::StrCat("hash-", winner));
  }
}

// ---------------------------------------------------------------------------
// An empty absl::string_view may have a null data(); bound as such, SQLite
// stores SQL NULL, which matches nothing and breaks NOT NULL constraints.

TEST_F(SqliteStoreTest, NullEmptyKeepEndsEveryOtherSession) {
  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK(
        store_->AddSession(std::string(32, static_cast<char>(i)), {"alice", kCreated, kExpires}));
  }
  const absl::string_view keep;  // empty: keep none
  absl::StatusOr<int> ended = store_->DeleteOtherSessions("alice", keep);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 3);
}

TEST_F(SqliteStoreTest, NullEmptyValuesAreEmptyStrings) {
  const absl::string_view empty;
  // "bob" does not exist: must not be AlreadyExists ("user bob exists").
  EXPECT_OK(store_->AddUser("bob", empty));
  EXPECT_EQ(HashOf(*store_, "bob"), std::string());
  EXPECT_OK(store_->SetName("192.0.2.1", empty));
  EXPECT_EQ(NameOf(*store_, "192.0.2.1"), std::string());
  EXPECT_OK(store_->SetUserAt(empty, "carol"));
  EXPECT_EQ(UserAtOf(*store_, ""), "carol");
  // The same key however its empty string_view was made.
  ASSERT_OK(store_->SetName("", "empty-address"));
  EXPECT_EQ(NameOf(*store_, empty), "empty-address");
}

}  // namespace
}  // namespace switchboard
