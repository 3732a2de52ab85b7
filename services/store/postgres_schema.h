// Copyright Switchboard authors.
//
// postgres_schema.h: the PostgreSQL schema, versioned like the SQLite one
// (the number lives in table switchboard_schema) and brought up to date at
// start-up. Several servers may start at once on one database: the
// migration holds a transaction-scoped advisory lock, so one migrates and
// the others then find the work done.
//
// Every value that came from the network is bytea, so that it round-trips
// byte for byte as in SQLite (a NUL, invalid UTF-8); times are int8
// microseconds since the Unix epoch. To read names in psql:
// `SELECT convert_from(name, 'UTF8') FROM users`.

#ifndef SWITCHBOARD_SERVICES_STORE_POSTGRES_SCHEMA_H_
#define SWITCHBOARD_SERVICES_STORE_POSTGRES_SCHEMA_H_

#include "absl/status/status.h"
#include "services/store/postgres_connection.h"

namespace switchboard {

// 1: identities, users. 2: sessions, user_at. 3: login_failures.
inline constexpr int kPostgresSchemaVersion = 3;

// Creates or migrates the schema on `connection`'s database; refuses one
// newer than this build knows (FailedPrecondition).
absl::Status MigratePostgresSchema(PgConnection& connection);

// Reads the schema version (0 when there is none yet).
absl::StatusOr<int> PostgresSchemaVersion(PgConnection& connection);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_POSTGRES_SCHEMA_H_
