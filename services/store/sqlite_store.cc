// Copyright Switchboard authors.

#include "services/store/sqlite_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "services/store/data_directory.h"

namespace switchboard {
namespace {

// How long a writer waits for another one before giving up with "busy".
constexpr int kBusyTimeoutMs = 5000;
// Idle connections kept for reuse; more are closed when returned.
constexpr size_t kMaxIdleConnections = 16;

// Each step takes the schema from version i to i + 1, in one transaction
// together with the new user_version. Steps are never edited once shipped:
// a new version appends one.
constexpr const char* kMigrations[] = {
    // 0 -> 1: names by address; users with their password hashes.
    "CREATE TABLE identities ("
    "  address TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  password_hash TEXT NOT NULL"
    ") WITHOUT ROWID;",
    // 1 -> 2: sessions by token hash; the user last seen at each address.
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  expires_us INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_by_user ON sessions (user);"
    "CREATE INDEX sessions_by_expiry ON sessions (expires_us);"
    "CREATE TABLE user_at ("
    "  address TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL"
    ") WITHOUT ROWID;",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion,
              "one migration step per schema version");

// The statements the Store methods run. Values are always bound.
constexpr const char kFindName[] = "SELECT name FROM identities WHERE address = ?1";
constexpr const char kSetName[] =
    "INSERT INTO identities (address, name) VALUES (?1, ?2)"
    " ON CONFLICT (address) DO UPDATE SET name = excluded.name";
constexpr const char kForgetName[] = "DELETE FROM identities WHERE address = ?1";
constexpr const char kAddUser[] = "INSERT INTO users (name, password_hash) VALUES (?1, ?2)";
constexpr const char kPasswordHash[] = "SELECT password_hash FROM users WHERE name = ?1";
constexpr const char kSetPasswordHash[] = "UPDATE users SET password_hash = ?2 WHERE name = ?1";
constexpr const char kUserAt[] = "SELECT user FROM user_at WHERE address = ?1";
constexpr const char kSetUserAt[] =
    "INSERT INTO user_at (address, user) VALUES (?1, ?2)"
    " ON CONFLICT (address) DO UPDATE SET user = excluded.user";
constexpr const char kAddSession[] =
    "INSERT INTO sessions (token_hash, user, created_us, expires_us) VALUES (?1, ?2, ?3, ?4)";
constexpr const char kFindSession[] =
    "SELECT user, created_us, expires_us FROM sessions WHERE token_hash = ?1";
constexpr const char kDeleteSession[] = "DELETE FROM sessions WHERE token_hash = ?1";
constexpr const char kDeleteOtherSessions[] =
    "DELETE FROM sessions WHERE user = ?1 AND token_hash != ?2";
constexpr const char kDeleteExpiredSessions[] = "DELETE FROM sessions WHERE expires_us < ?1";

absl::Status SqliteError(int rc, sqlite3* db, absl::string_view what) {
  const std::string message =
      absl::StrCat("sqlite: ", what, ": ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                   " (", sqlite3_errstr(rc), ")");
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return absl::AlreadyExistsError(message);
      }
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

// One SQLite connection with its prepared statements. Used by one thread at
// a time: whoever holds the Lease.
class SqliteStore::Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    auto connection = std::unique_ptr<Connection>(new Connection(db));
    if (rc != SQLITE_OK) return SqliteError(rc, db, absl::StrCat("opening ", path));
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    // FULL: the WAL is synced at every commit, so an acknowledged write
    // survives a power loss too (NORMAL would only survive a crash).
    if (absl::Status s = connection->Exec("PRAGMA synchronous = FULL"); !s.ok()) return s;
    return connection;
  }

  ~Connection() {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
    sqlite3_close(db_);
  }

  sqlite3* db() const { return db_; }

  absl::Status Exec(const char* sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
    sqlite3_free(error);
    if (rc != SQLITE_OK) return SqliteError(rc, db_, sql);
    return absl::OkStatus();
  }

  // The cached statement for `sql` (one of the constants above), reset and
  // ready for binding.
  absl::StatusOr<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* statement = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (rc != SQLITE_OK) return SqliteError(rc, db_, absl::StrCat("preparing ", sql));
    statements_.emplace(sql, statement);
    return statement;
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* const db_;
  absl::flat_hash_map<const char*, sqlite3_stmt*> statements_;
};

// A connection borrowed from the pool for one Store call.
class SqliteStore::Lease {
 public:
  Lease(SqliteStore* store, std::unique_ptr<Connection> connection)
      : store_(store), connection_(std::move(connection)) {}
  Lease(Lease&& other) = default;
  ~Lease() {
    if (connection_ != nullptr) store_->Release(std::move(connection_));
  }
  Connection* operator->() const { return connection_.get(); }

 private:
  SqliteStore* store_;
  std::unique_ptr<Connection> connection_;
};

namespace {

// Runs one statement: binds, steps, and resets it on scope exit so that it
// holds no read snapshot between calls.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* statement, sqlite3* db) : statement_(statement), db_(db) {}
  ~Statement() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  // Text and blobs are bound without copying: they outlive the statement.
  // An empty view may have no data pointer, which SQLite would store as
  // NULL: it is bound as the empty value it is.
  void BindText(int index, absl::string_view text) {
    sqlite3_bind_text(statement_, index, NonNull(text), static_cast<int>(text.size()),
                      SQLITE_STATIC);
  }
  void BindBlob(int index, absl::string_view bytes) {
    sqlite3_bind_blob(statement_, index, NonNull(bytes), static_cast<int>(bytes.size()),
                      SQLITE_STATIC);
  }
  void BindTime(int index, absl::Time time) {
    sqlite3_bind_int64(statement_, index, absl::ToUnixMicros(time));
  }

  // True when a row is available; false when done.
  absl::StatusOr<bool> Step() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(rc, db_, sqlite3_sql(statement_));
  }
  // Runs a statement that returns no rows; returns the rows it changed.
  absl::StatusOr<int> Run() {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    return sqlite3_changes(db_);
  }

  std::string Text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return std::string(text != nullptr ? text : "",
                       static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
  }
  absl::Time Time(int column) const {
    return absl::FromUnixMicros(sqlite3_column_int64(statement_, column));
  }

 private:
  static const char* NonNull(absl::string_view view) {
    return view.data() != nullptr ? view.data() : "";
  }

  sqlite3_stmt* const statement_;
  sqlite3* const db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir) {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  if (absl::Status s = MakeDirectories(data_dir); !s.ok()) return s;
  absl::StatusOr<int> lock_fd = LockDirectory(data_dir);
  if (!lock_fd.ok()) return lock_fd.status();
  const std::string path = absl::StrCat(data_dir, "/", kFileName);
  // Created here so that its mode is 0600 whatever the umask; SQLite gives
  // the -wal and -shm files the database file's mode.
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    close(*lock_fd);
    return DataDirectoryError(absl::StrCat("cannot open ", path), error);
  }
  close(fd);
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(path, *lock_fd));

  absl::StatusOr<Lease> connection = store->Acquire();
  if (!connection.ok()) return connection.status();
  int version = 0;
  {
    absl::StatusOr<sqlite3_stmt*> prepared = (*connection)->Prepare("PRAGMA user_version");
    if (!prepared.ok()) return prepared.status();
    Statement statement(*prepared, (*connection)->db());
    absl::StatusOr<bool> row = statement.Step();
    if (!row.ok()) return row.status();
    version = sqlite3_column_int(*prepared, 0);
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(path, " has schema version ", version,
                                                      "; this server knows up to ", kSchemaVersion,
                                                      ": run a newer server"));
  }
  // WAL is a property of the file: set once, it stays. SQLite answers with
  // the mode in force, which is not WAL where WAL cannot work.
  {
    absl::StatusOr<sqlite3_stmt*> prepared = (*connection)->Prepare("PRAGMA journal_mode = WAL");
    if (!prepared.ok()) return prepared.status();
    Statement statement(*prepared, (*connection)->db());
    absl::StatusOr<bool> row = statement.Step();
    if (!row.ok()) return row.status();
    const std::string mode = *row ? statement.Text(0) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": SQLite cannot use a write-ahead log here (journal mode '", mode, "')"));
    }
  }
  for (; version < kSchemaVersion; ++version) {
    // IMMEDIATE: the step and its version number commit together or not at
    // all, and two servers cannot both migrate.
    if (absl::Status s = (*connection)->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::Status s = (*connection)->Exec(kMigrations[version]);
    if (s.ok()) {
      // The version is a number of ours, not input.
      const std::string set_version = absl::StrCat("PRAGMA user_version = ", version + 1);
      s = (*connection)->Exec(set_version.c_str());
    }
    if (s.ok()) s = (*connection)->Exec("COMMIT");
    if (!s.ok()) {
      (void)(*connection)->Exec("ROLLBACK");
      return absl::Status(s.code(), absl::StrCat("migrating ", path, " to schema version ",
                                                 version + 1, ": ", s.message()));
    }
    LOG(INFO) << "store: " << path << " migrated to schema version " << version + 1;
  }
  return store;
}

SqliteStore::SqliteStore(std::string path, int lock_fd)
    : path_(std::move(path)), lock_fd_(lock_fd) {}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock lock(&mu_);
    idle_.clear();  // closes them; the last close checkpoints the WAL
  }
  close(lock_fd_);
}

absl::StatusOr<SqliteStore::Lease> SqliteStore::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
  }
  // Opened outside the lock: it touches the disk.
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Open(path_);
  if (!connection.ok()) return connection.status();
  return Lease(this, *std::move(connection));
}

void SqliteStore::Release(std::unique_ptr<Connection> connection) {
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) {
      idle_.push_back(std::move(connection));
      return;
    }
  }
  connection.reset();  // closed outside the lock
}

// Runs `body(Statement&)` on the cached statement for `sql`, on a leased
// connection. One statement is one implicit transaction, committed when it
// completes, so every Store call below is atomic and durable on return.
template <typename Body>
auto SqliteStore::WithStatement(const char* sql, Body body) {
  using Result = decltype(body(std::declval<Statement&>()));
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return Result(lease.status());
  absl::StatusOr<sqlite3_stmt*> prepared = (*lease)->Prepare(sql);
  if (!prepared.ok()) return Result(prepared.status());
  Statement statement(*prepared, (*lease)->db());
  return body(statement);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LookUpText(const char* sql,
                                                                   absl::string_view key) {
  return WithStatement(sql,
                       [&](Statement& statement) -> absl::StatusOr<std::optional<std::string>> {
                         statement.BindText(1, key);
                         absl::StatusOr<bool> row = statement.Step();
                         if (!row.ok()) return row.status();
                         if (!*row) return std::nullopt;
                         return statement.Text(0);
                       });
}

absl::Status SqliteStore::PutText(const char* sql, absl::string_view key, absl::string_view value) {
  return WithStatement(sql, [&](Statement& statement) -> absl::Status {
    statement.BindText(1, key);
    statement.BindText(2, value);
    return statement.Run().status();
  });
}

absl::StatusOr<std::optional<std::string>> SqliteStore::FindName(absl::string_view address) {
  return LookUpText(kFindName, address);
}

absl::Status SqliteStore::SetName(absl::string_view address, absl::string_view name) {
  return PutText(kSetName, address, name);
}

absl::StatusOr<bool> SqliteStore::ForgetName(absl::string_view address) {
  return WithStatement(kForgetName, [&](Statement& statement) -> absl::StatusOr<bool> {
    statement.BindText(1, address);
    absl::StatusOr<int> changed = statement.Run();
    if (!changed.ok()) return changed.status();
    return *changed > 0;
  });
}

absl::Status SqliteStore::AddUser(absl::string_view user, absl::string_view password_hash) {
  return WithStatement(kAddUser, [&](Statement& statement) -> absl::Status {
    statement.BindText(1, user);
    statement.BindText(2, password_hash);
    absl::StatusOr<int> changed = statement.Run();
    if (absl::IsAlreadyExists(changed.status())) {
      return absl::AlreadyExistsError(absl::StrCat("user ", user, " exists"));
    }
    return changed.status();
  });
}

absl::StatusOr<std::optional<std::string>> SqliteStore::PasswordHash(absl::string_view user) {
  return LookUpText(kPasswordHash, user);
}

absl::Status SqliteStore::SetPasswordHash(absl::string_view user, absl::string_view password_hash) {
  return WithStatement(kSetPasswordHash, [&](Statement& statement) -> absl::Status {
    statement.BindText(1, user);
    statement.BindText(2, password_hash);
    absl::StatusOr<int> changed = statement.Run();
    if (!changed.ok()) return changed.status();
    if (*changed == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<std::string>> SqliteStore::UserAt(absl::string_view address) {
  return LookUpText(kUserAt, address);
}

absl::Status SqliteStore::SetUserAt(absl::string_view address, absl::string_view user) {
  return PutText(kSetUserAt, address, user);
}

absl::Status SqliteStore::AddSession(absl::string_view token_hash, const StoredSession& session) {
  return WithStatement(kAddSession, [&](Statement& statement) -> absl::Status {
    statement.BindBlob(1, token_hash);
    statement.BindText(2, session.user);
    statement.BindTime(3, session.created);
    statement.BindTime(4, session.expires);
    return statement.Run().status();
  });
}

absl::StatusOr<std::optional<StoredSession>> SqliteStore::FindSession(
    absl::string_view token_hash) {
  return WithStatement(
      kFindSession, [&](Statement& statement) -> absl::StatusOr<std::optional<StoredSession>> {
        statement.BindBlob(1, token_hash);
        absl::StatusOr<bool> row = statement.Step();
        if (!row.ok()) return row.status();
        if (!*row) return std::nullopt;
        return StoredSession{statement.Text(0), statement.Time(1), statement.Time(2)};
      });
}

absl::StatusOr<bool> SqliteStore::DeleteSession(absl::string_view token_hash) {
  return WithStatement(kDeleteSession, [&](Statement& statement) -> absl::StatusOr<bool> {
    statement.BindBlob(1, token_hash);
    absl::StatusOr<int> changed = statement.Run();
    if (!changed.ok()) return changed.status();
    return *changed > 0;
  });
}

absl::StatusOr<int> SqliteStore::DeleteOtherSessions(absl::string_view user,
                                                     absl::string_view keep) {
  return WithStatement(kDeleteOtherSessions, [&](Statement& statement) -> absl::StatusOr<int> {
    statement.BindText(1, user);
    statement.BindBlob(2, keep);
    return statement.Run();
  });
}

absl::StatusOr<int> SqliteStore::DeleteExpiredSessions(absl::Time now) {
  return WithStatement(kDeleteExpiredSessions, [&](Statement& statement) -> absl::StatusOr<int> {
    statement.BindTime(1, now);
    return statement.Run();
  });
}

}  // namespace switchboard
