// Copyright Switchboard authors.

#include "services/store/postgres_schema.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

// kMigrations[v] takes the schema from version v to v + 1.
constexpr const char* kMigrations[kPostgresSchemaVersion] = {
    "CREATE TABLE identities ("
    "  address bytea PRIMARY KEY,"
    "  name bytea NOT NULL"
    ");"
    "CREATE TABLE users ("
    "  name bytea PRIMARY KEY,"
    "  password_hash bytea NOT NULL"
    ");",

    "CREATE TABLE sessions ("
    "  token_hash bytea PRIMARY KEY,"
    "  user_name bytea NOT NULL,"
    "  created_us int8 NOT NULL,"
    "  expires_us int8 NOT NULL"
    ");"
    "CREATE INDEX sessions_by_user ON sessions (user_name);"
    "CREATE INDEX sessions_by_expiry ON sessions (expires_us);"
    "CREATE TABLE user_at ("
    "  address bytea PRIMARY KEY,"
    "  user_name bytea NOT NULL"
    ");",

    // by_address false: key is a user name; true: a client address.
    "CREATE TABLE login_failures ("
    "  by_address boolean NOT NULL,"
    "  key bytea NOT NULL,"
    "  at_us int8 NOT NULL"
    ");"
    "CREATE INDEX login_failures_by_key ON login_failures (by_address, key, at_us);"
    "CREATE INDEX login_failures_by_time ON login_failures (at_us);",
};

// Any constant will do, as long as nothing else on the database uses it.
constexpr const char kTakeMigrationLock[] =
    "SELECT pg_advisory_xact_lock(hashtext('switchboard schema'))";

absl::Status MigrateInTransaction(PgConnection& connection) {
  if (absl::Status s = connection.Run(kTakeMigrationLock); !s.ok()) return s;
  if (absl::Status s = connection.Run(
          "CREATE TABLE IF NOT EXISTS switchboard_schema (version integer NOT NULL)");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int> version = PostgresSchemaVersion(connection);
  if (!version.ok()) return version.status();
  if (*version > kPostgresSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("the PostgreSQL database has schema version ", *version,
                     "; this server knows up to ", kPostgresSchemaVersion, ": run a newer server"));
  }
  if (*version == kPostgresSchemaVersion) return absl::OkStatus();
  for (int v = *version; v < kPostgresSchemaVersion; ++v) {
    if (absl::Status s = connection.Run(kMigrations[v]); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migrating the PostgreSQL schema to version ",
                                                 v + 1, ": ", s.message()));
    }
  }
  // The version is a number of ours, not input.
  const std::string set_version =
      absl::StrCat("DELETE FROM switchboard_schema; INSERT INTO switchboard_schema VALUES (",
                   kPostgresSchemaVersion, ")");
  if (absl::Status s = connection.Run(set_version.c_str()); !s.ok()) return s;
  LOG(INFO) << "store: PostgreSQL schema migrated from version " << *version << " to "
            << kPostgresSchemaVersion;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> PostgresSchemaVersion(PgConnection& connection) {
  absl::StatusOr<PgResult> exists =
      connection.Query("SELECT to_regclass('switchboard_schema') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (exists->Bytes(0, 0) != "t") return 0;  // the first start
  absl::StatusOr<PgResult> rows = connection.Query("SELECT version FROM switchboard_schema");
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) return 0;
  int version = 0;
  if (!absl::SimpleAtoi(rows->Bytes(0, 0), &version)) {
    return absl::DataLossError("switchboard_schema holds no version number");
  }
  return version;
}

absl::Status MigratePostgresSchema(PgConnection& connection) {
  if (absl::Status s = connection.Run("BEGIN"); !s.ok()) return s;
  absl::Status s = MigrateInTransaction(connection);
  if (s.ok()) s = connection.Run("COMMIT");
  if (!s.ok()) (void)connection.Run("ROLLBACK");
  return s;
}

}  // namespace switchboard
