// Copyright Switchboard authors.
//
// postgres_connection.h: `PgConnection`, one libpq connection that runs
// prepared statements with binary parameters and results, and `PgResult`,
// what one statement returned. Binary both ways, so that bytes round-trip
// exactly (a NUL, invalid UTF-8) and nothing is ever spliced into SQL.
//
// Errors map to absl codes the store's callers act on: a lost connection or
// a server shutting down is Unavailable, a unique violation AlreadyExists,
// anything else Internal.

#ifndef SWITCHBOARD_SERVICES_STORE_POSTGRES_CONNECTION_H_
#define SWITCHBOARD_SERVICES_STORE_POSTGRES_CONNECTION_H_

#include <postgresql/libpq-fe.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// One parameter of a statement: bytes (for bytea) or an int8.
class PgValue {
 public:
  static PgValue Bytes(absl::string_view bytes) { return PgValue(bytes); }
  static PgValue Int64(int64_t value);

  // Never null, even for empty bytes (libpq reads null as SQL NULL).
  const char* data() const { return is_int_ ? int8_ : (bytes_.data() ? bytes_.data() : ""); }
  int size() const { return is_int_ ? 8 : static_cast<int>(bytes_.size()); }

 private:
  explicit PgValue(absl::string_view bytes) : bytes_(bytes) {}
  absl::string_view bytes_;
  bool is_int_ = false;
  char int8_[8] = {};  // big-endian
};

// What a statement returned; owns the libpq result.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&&) = delete;
  ~PgResult() { PQclear(result_); }

  const PGresult* get() const { return result_; }
  int rows() const { return PQntuples(result_); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
  // A bytea column, as the bytes stored.
  absl::string_view Bytes(int row, int column) const;
  // An int8 column.
  int64_t Int64(int row, int column) const;
  // Rows an INSERT, UPDATE or DELETE touched.
  int affected_rows() const;

 private:
  PGresult* result_;
};

// One thread at a time: whoever borrowed it from the pool.
class PgConnection {
 public:
  // Connects to `uri` (a libpq connection URI or string). Unavailable when
  // the server cannot be reached, with libpq's reason.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& uri);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` as a simple query (several statements allowed; no
  // parameters): schema changes, transaction control.
  absl::Status Run(const char* sql);
  // Runs `sql` with no parameters and returns its rows, as text.
  absl::StatusOr<PgResult> Query(const char* sql);
  absl::Status Prepare(const char* name, const char* sql, int parameters);
  // Runs the prepared statement `name`.
  absl::StatusOr<PgResult> Execute(const char* name, std::initializer_list<PgValue> parameters);

  // True once the connection to the server is gone.
  bool broken() const { return PQstatus(conn_) == CONNECTION_BAD; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  // An error status for `result` (which may be null), or OK.
  absl::Status Check(const PGresult* result, absl::string_view what) const;

  PGconn* const conn_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_POSTGRES_CONNECTION_H_
