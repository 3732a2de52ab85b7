// Copyright Switchboard authors.

#include "services/store/postgres_connection.h"

#include <cstring>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace switchboard {
namespace {

constexpr int kBinary = 1;

// libpq's messages span lines ("...failed: Connection refused\n\tIs the
// server running...?\n"); an error line should not.
std::string OneLine(const char* message) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(message == nullptr ? "" : message, '\n')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) parts.emplace_back(part);
  }
  return absl::StrJoin(parts, " ");
}

bool SqlStateMeansUnavailable(absl::string_view state) {
  // 08: connection exceptions; 57P0x: the server is shutting down or
  // starting up; 53: out of resources (too many connections, disk full).
  return absl::StartsWith(state, "08") || absl::StartsWith(state, "57P") ||
         absl::StartsWith(state, "53");
}

}  // namespace

PgValue PgValue::Int64(int64_t value) {
  PgValue v{absl::string_view()};
  v.is_int_ = true;
  const uint64_t big_endian = absl::ghtonll(static_cast<uint64_t>(value));
  std::memcpy(v.int8_, &big_endian, sizeof(v.int8_));
  return v;
}

absl::string_view PgResult::Bytes(int row, int column) const {
  return absl::string_view(PQgetvalue(result_, row, column),
                           static_cast<size_t>(PQgetlength(result_, row, column)));
}

int64_t PgResult::Int64(int row, int column) const {
  uint64_t big_endian = 0;
  std::memcpy(&big_endian, PQgetvalue(result_, row, column), sizeof(big_endian));
  return static_cast<int64_t>(absl::gntohll(big_endian));
}

int PgResult::affected_rows() const {
  const char* tuples = PQcmdTuples(result_);
  return tuples == nullptr || *tuples == '\0' ? 0 : std::atoi(tuples);
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& uri) {
  // Our defaults first: the URI, expanded last, overrides any of them.
  const char* const keywords[] = {"connect_timeout",
                                  "application_name",
                                  "keepalives_idle",
                                  "keepalives_interval",
                                  "keepalives_count",
                                  "dbname",
                                  nullptr};
  const char* const values[] = {"5", "switchboard", "10", "5", "3", uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("postgresql: out of memory");
  auto connection = std::unique_ptr<PgConnection>(new PgConnection(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ", OneLine(PQerrorMessage(conn))));
  }
  // A reply is sent only after its commit is on the server's disk, whatever
  // the server's own default says.
  if (absl::Status s = connection->Run("SET synchronous_commit = on"); !s.ok()) return s;
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

absl::Status PgConnection::Check(const PGresult* result, absl::string_view what) const {
  const ExecStatusType status = PQresultStatus(result);
  if (result != nullptr && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)) {
    return absl::OkStatus();
  }
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string message = absl::StrCat(
      "postgresql: ", what, ": ",
      OneLine(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_)));
  if (broken() || (state != nullptr && SqlStateMeansUnavailable(state))) {
    return absl::UnavailableError(message);
  }
  if (state != nullptr && absl::string_view(state) == "23505") {
    return absl::AlreadyExistsError(message);
  }
  return absl::InternalError(message);
}

absl::Status PgConnection::Run(const char* sql) {
  PgResult result(PQexec(conn_, sql));
  return Check(result.get(), sql);
}

absl::StatusOr<PgResult> PgConnection::Query(const char* sql) {
  PgResult result(PQexec(conn_, sql));
  if (absl::Status s = Check(result.get(), sql); !s.ok()) return s;
  return result;
}

absl::Status PgConnection::Prepare(const char* name, const char* sql, int parameters) {
  // Every parameter is bytea or int8, said by the SQL's casts; the types
  // are left to the server (0) so that one call fits both.
  PgResult result(PQprepare(conn_, name, sql, parameters, nullptr));
  return Check(result.get(), absl::StrCat("preparing ", name));
}

absl::StatusOr<PgResult> PgConnection::Execute(const char* name,
                                               std::initializer_list<PgValue> parameters) {
  constexpr size_t kMaxParameters = 8;
  const char* values[kMaxParameters];
  int lengths[kMaxParameters];
  int formats[kMaxParameters];
  if (parameters.size() > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat("postgresql: too many parameters for ", name));
  }
  int n = 0;
  for (const PgValue& value : parameters) {
    values[n] = value.data();
    lengths[n] = value.size();
    formats[n] = kBinary;
    ++n;
  }
  PgResult result(PQexecPrepared(conn_, name, n, values, lengths, formats, kBinary));
  if (absl::Status s = Check(result.get(), name); !s.ok()) return s;
  return result;
}

}  // namespace switchboard
