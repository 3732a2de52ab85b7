// Copyright Switchboard authors.

#include "services/store/postgres_store.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/store/postgres_schema.h"

namespace switchboard {
namespace {

struct PreparedStatement {
  const char* name;
  const char* sql;
  int parameters;
};

// Every statement the store runs; each is prepared on every connection.
constexpr PreparedStatement kStatements[] = {
    {"find_name", "SELECT name FROM identities WHERE address = $1::bytea", 1},
    {"set_name",
     "INSERT INTO identities (address, name) VALUES ($1::bytea, $2::bytea) "
     "ON CONFLICT (address) DO UPDATE SET name = EXCLUDED.name",
     2},
    {"forget_name", "DELETE FROM identities WHERE address = $1::bytea", 1},
    {"add_user", "INSERT INTO users (name, password_hash) VALUES ($1::bytea, $2::bytea)", 2},
    {"password_hash", "SELECT password_hash FROM users WHERE name = $1::bytea", 1},
    {"set_password_hash", "UPDATE users SET password_hash = $2::bytea WHERE name = $1::bytea", 2},
    {"user_at", "SELECT user_name FROM user_at WHERE address = $1::bytea", 1},
    {"set_user_at",
     "INSERT INTO user_at (address, user_name) VALUES ($1::bytea, $2::bytea) "
     "ON CONFLICT (address) DO UPDATE SET user_name = EXCLUDED.user_name",
     2},
    {"add_session",
     "INSERT INTO sessions (token_hash, user_name, created_us, expires_us) "
     "VALUES ($1::bytea, $2::bytea, $3::int8, $4::int8)",
     4},
    {"find_session",
     "SELECT user_name, created_us, expires_us FROM sessions WHERE token_hash = $1::bytea", 1},
    {"delete_session", "DELETE FROM sessions WHERE token_hash = $1::bytea", 1},
    {"delete_other_sessions",
     "DELETE FROM sessions WHERE user_name = $1::bytea AND token_hash <> $2::bytea", 2},
    {"delete_expired_sessions", "DELETE FROM sessions WHERE expires_us < $1::int8", 1},
    {"add_failure",
     "INSERT INTO login_failures (by_address, key, at_us) "
     "VALUES (false, $1::bytea, $3::int8), (true, $2::bytea, $3::int8)",
     3},
    {"recent_user_failures",
     "SELECT at_us FROM login_failures WHERE NOT by_address AND key = $1::bytea "
     "AND at_us > $2::int8 ORDER BY at_us DESC LIMIT $3::int8",
     3},
    {"recent_address_failures",
     "SELECT at_us FROM login_failures WHERE by_address AND key = $1::bytea "
     "AND at_us > $2::int8 ORDER BY at_us DESC LIMIT $3::int8",
     3},
    {"clear_failures",
     "DELETE FROM login_failures WHERE (NOT by_address AND key = $1::bytea) "
     "OR (by_address AND key = $2::bytea)",
     2},
    {"delete_failures_before", "DELETE FROM login_failures WHERE at_us <= $1::int8", 1},
};

absl::Status PrepareAll(PgConnection& connection) {
  for (const PreparedStatement& statement : kStatements) {
    if (absl::Status s = connection.Prepare(statement.name, statement.sql, statement.parameters);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

PgValue Micros(absl::Time time) { return PgValue::Int64(absl::ToUnixMicros(time)); }

}  // namespace

absl::Status CheckPostgresUri(absl::string_view uri) {
  if (!absl::StartsWith(uri, "postgresql://") && !absl::StartsWith(uri, "postgres://")) {
    return absl::InvalidArgumentError(
        "--store takes sqlite or a postgresql://USER@HOST:PORT/DB connection URI");
  }
  char* error = nullptr;
  const std::string text(uri);
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (options == nullptr) {
    const std::string reason = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    // libpq's reason names the bad part, never a password's value.
    return absl::InvalidArgumentError(absl::StrCat("--store: not a PostgreSQL connection URI: ",
                                                   absl::StripTrailingAsciiWhitespace(reason)));
  }
  bool has_password = false;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (absl::string_view(option->keyword) == "password" && option->val != nullptr) {
      has_password = true;
    }
  }
  PQconninfoFree(options);
  if (has_password) {
    return absl::InvalidArgumentError(
        "--store: the URI holds a password; put it in PGPASSWORD or ~/.pgpass instead, so that "
        "it stays out of the command line and the log");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& uri,
                                                                   int pool_size,
                                                                   const Clock* clock) {
  if (absl::Status s = CheckPostgresUri(uri); !s.ok()) return s;
  // The schema first, on a connection of its own: prepared statements need
  // the tables.
  {
    absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(uri);
    if (!connection.ok()) return connection.status();
    if (absl::Status s = MigratePostgresSchema(**connection); !s.ok()) return s;
  }
  auto store = std::unique_ptr<PostgresStore>(new PostgresStore(uri, pool_size, clock));
  // One pooled connection now, so that a setup error shows at start-up.
  absl::StatusOr<PgPool::Lease> lease = store->pool_.Acquire();
  if (!lease.ok()) return lease.status();
  return store;
}

PostgresStore::PostgresStore(const std::string& uri, int pool_size, const Clock* clock)
    : pool_(uri, pool_size, PrepareAll, clock) {}

absl::StatusOr<PgResult> PostgresStore::Execute(const char* name,
                                                std::initializer_list<PgValue> parameters) {
  absl::StatusOr<PgPool::Lease> lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();
  return (*lease)->Execute(name, parameters);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::LookUp(const char* name,
                                                                 absl::string_view key) {
  absl::StatusOr<PgResult> result = Execute(name, {PgValue::Bytes(key)});
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return std::nullopt;
  return std::string(result->Bytes(0, 0));
}

absl::StatusOr<int> PostgresStore::Change(const char* name,
                                          std::initializer_list<PgValue> parameters) {
  absl::StatusOr<PgResult> result = Execute(name, parameters);
  if (!result.ok()) return result.status();
  return result->affected_rows();
}

absl::StatusOr<std::optional<std::string>> PostgresStore::FindName(absl::string_view address) {
  return LookUp("find_name", address);
}

absl::Status PostgresStore::SetName(absl::string_view address, absl::string_view name) {
  return Change("set_name", {PgValue::Bytes(address), PgValue::Bytes(name)}).status();
}

absl::StatusOr<bool> PostgresStore::ForgetName(absl::string_view address) {
  absl::StatusOr<int> changed = Change("forget_name", {PgValue::Bytes(address)});
  if (!changed.ok()) return changed.status();
  return *changed > 0;
}

absl::Status PostgresStore::AddUser(absl::string_view user, absl::string_view password_hash) {
  absl::Status s =
      Change("add_user", {PgValue::Bytes(user), PgValue::Bytes(password_hash)}).status();
  if (absl::IsAlreadyExists(s))
    return absl::AlreadyExistsError(absl::StrCat("user ", user, " exists"));
  return s;
}

absl::StatusOr<std::optional<std::string>> PostgresStore::PasswordHash(absl::string_view user) {
  return LookUp("password_hash", user);
}

absl::Status PostgresStore::SetPasswordHash(absl::string_view user,
                                            absl::string_view password_hash) {
  absl::StatusOr<int> changed =
      Change("set_password_hash", {PgValue::Bytes(user), PgValue::Bytes(password_hash)});
  if (!changed.ok()) return changed.status();
  if (*changed == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> PostgresStore::UserAt(absl::string_view address) {
  return LookUp("user_at", address);
}

absl::Status PostgresStore::SetUserAt(absl::string_view address, absl::string_view user) {
  return Change("set_user_at", {PgValue::Bytes(address), PgValue::Bytes(user)}).status();
}

absl::Status PostgresStore::AddSession(absl::string_view token_hash, const StoredSession& session) {
  return Change("add_session", {PgValue::Bytes(token_hash), PgValue::Bytes(session.user),
                                Micros(session.created), Micros(session.expires)})
      .status();
}

absl::StatusOr<std::optional<StoredSession>> PostgresStore::FindSession(
    absl::string_view token_hash) {
  absl::StatusOr<PgResult> result = Execute("find_session", {PgValue::Bytes(token_hash)});
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return std::nullopt;
  return StoredSession{std::string(result->Bytes(0, 0)), absl::FromUnixMicros(result->Int64(0, 1)),
                       absl::FromUnixMicros(result->Int64(0, 2))};
}

absl::StatusOr<bool> PostgresStore::DeleteSession(absl::string_view token_hash) {
  absl::StatusOr<int> changed = Change("delete_session", {PgValue::Bytes(token_hash)});
  if (!changed.ok()) return changed.status();
  return *changed > 0;
}

absl::StatusOr<int> PostgresStore::DeleteOtherSessions(absl::string_view user,
                                                       absl::string_view keep) {
  return Change("delete_other_sessions", {PgValue::Bytes(user), PgValue::Bytes(keep)});
}

absl::StatusOr<int> PostgresStore::DeleteExpiredSessions(absl::Time now) {
  return Change("delete_expired_sessions", {Micros(now)});
}

absl::Status PostgresStore::AddFailure(absl::string_view user, absl::string_view address,
                                       absl::Time at) {
  return Change("add_failure", {PgValue::Bytes(user), PgValue::Bytes(address), Micros(at)})
      .status();
}

absl::StatusOr<std::vector<absl::Time>> PostgresStore::RecentFailures(bool by_address,
                                                                      absl::string_view key,
                                                                      absl::Time since, int limit) {
  absl::StatusOr<PgResult> result =
      Execute(by_address ? "recent_address_failures" : "recent_user_failures",
              {PgValue::Bytes(key), Micros(since), PgValue::Int64(limit)});
  if (!result.ok()) return result.status();
  std::vector<absl::Time> times;
  times.reserve(static_cast<size_t>(result->rows()));
  for (int row = 0; row < result->rows(); ++row) {
    times.push_back(absl::FromUnixMicros(result->Int64(row, 0)));
  }
  return times;
}

absl::Status PostgresStore::ClearFailures(absl::string_view user, absl::string_view address) {
  return Change("clear_failures", {PgValue::Bytes(user), PgValue::Bytes(address)}).status();
}

absl::StatusOr<int> PostgresStore::DeleteFailuresBefore(absl::Time cutoff) {
  return Change("delete_failures_before", {Micros(cutoff)});
}

}  // namespace switchboard
