// Copyright Switchboard authors.
//
// sqlite_store.h: `SqliteStore`, the Store on a SQLite file in --data_dir.
//
// Durability: WAL journal with synchronous=FULL, so a call that returned OK
// survives the process being killed and, as far as the disk honours fsync,
// a power loss. Each call is one transaction. Statements are prepared, with
// every value bound as a parameter: no SQL is built from input.
//
// Concurrency: a small pool of connections, one per concurrent caller, so
// readers never wait for each other (WAL) and no lock of ours is held
// across SQLite's I/O; writers queue in SQLite (busy timeout).
//
// One process per data directory: Open takes an exclusive lock on
// <data_dir>/LOCK and fails at once, naming the directory, when another
// server holds it.

#ifndef SWITCHBOARD_SERVICES_STORE_SQLITE_STORE_H_
#define SWITCHBOARD_SERVICES_STORE_SQLITE_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/store/store.h"

namespace switchboard {

class SqliteStore final : public Store {
 public:
  // The schema version this build writes (PRAGMA user_version).
  // 1: identities, users. 2: sessions, user_at.
  static constexpr int kSchemaVersion = 2;
  static constexpr absl::string_view kFileName = "switchboard.db";

  // Creates `data_dir` (mode 0700) and the database (0600) when missing,
  // migrates an older schema, and refuses a newer one.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& data_dir);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // The database file's path.
  const std::string& path() const { return path_; }

  // Store:
  absl::StatusOr<std::optional<std::string>> FindName(absl::string_view address) override;
  absl::Status SetName(absl::string_view address, absl::string_view name) override;
  absl::StatusOr<bool> ForgetName(absl::string_view address) override;
  absl::Status AddUser(absl::string_view user, absl::string_view password_hash) override;
  absl::StatusOr<std::optional<std::string>> PasswordHash(absl::string_view user) override;
  absl::Status SetPasswordHash(absl::string_view user, absl::string_view password_hash) override;
  absl::StatusOr<std::optional<std::string>> UserAt(absl::string_view address) override;
  absl::Status SetUserAt(absl::string_view address, absl::string_view user) override;
  absl::Status AddSession(absl::string_view token_hash, const StoredSession& session) override;
  absl::StatusOr<std::optional<StoredSession>> FindSession(absl::string_view token_hash) override;
  absl::StatusOr<bool> DeleteSession(absl::string_view token_hash) override;
  absl::StatusOr<int> DeleteOtherSessions(absl::string_view user, absl::string_view keep) override;
  absl::StatusOr<int> DeleteExpiredSessions(absl::Time now) override;

 private:
  class Connection;
  class Lease;

  SqliteStore(std::string path, int lock_fd);

  // A connection for the calling thread alone, returned by ~Lease.
  absl::StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<Connection> connection);
  template <typename Body>
  auto WithStatement(const char* sql, Body body);
  // The one text column `sql` selects for the key bound as ?1, if a row has it.
  absl::StatusOr<std::optional<std::string>> LookUpText(const char* sql, absl::string_view key);
  // Runs `sql` with ?1 = key and ?2 = value (an insert or update).
  absl::Status PutText(const char* sql, absl::string_view key, absl::string_view value);

  const std::string path_;
  const int lock_fd_;  // holds the flock on <data_dir>/LOCK
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_SQLITE_STORE_H_
