// Copyright Switchboard authors.
//
// store.h: `Store`, what the identity and auth services keep between runs:
// names by client address, users with their password hashes, the user last
// seen at each address, and sessions by token hash. SqliteStore lives on a
// local file for one server; PostgresStore on a database that several
// servers share, which then also keeps their failed logins (`FailureLog`).
//
// Every call blocks on I/O, so services call it from the worker pool only.
// A call that returns OK has committed durably.

#ifndef SWITCHBOARD_SERVICES_STORE_STORE_H_
#define SWITCHBOARD_SERVICES_STORE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

// A session as stored: the token itself is never kept, only its hash.
struct StoredSession {
  std::string user;
  absl::Time created;
  absl::Time expires;
};

// Failed logins, kept where every server that shares the store sees them,
// so that N servers give a guesser no more tries than one. Auth's policy
// (how many, in what window) is not here: this only keeps the times.
// Thread-safe, blocking: worker threads only.
class FailureLog {
 public:
  virtual ~FailureLog() = default;

  // One failed attempt for `user` from `address`, at `at`.
  virtual absl::Status AddFailure(absl::string_view user, absl::string_view address,
                                  absl::Time at) = 0;
  // The times of the latest failures after `since`, newest first, at most
  // `limit`, for the user (by_address false) or the address (true).
  virtual absl::StatusOr<std::vector<absl::Time>> RecentFailures(bool by_address,
                                                                 absl::string_view key,
                                                                 absl::Time since, int limit) = 0;
  // Forgets the failures of `user` and of `address` (after a success).
  virtual absl::Status ClearFailures(absl::string_view user, absl::string_view address) = 0;
  // Drops failures at or before `cutoff`; returns how many.
  virtual absl::StatusOr<int> DeleteFailuresBefore(absl::Time cutoff) = 0;
};

// Thread-safe: any number of worker threads may call at once.
class Store {
 public:
  virtual ~Store() = default;

  // Identities, keyed by the client's address as printed without a port
  // ("127.0.0.1", "::1"); IPv4-mapped IPv6 addresses arrive as IPv4.
  virtual absl::StatusOr<std::optional<std::string>> FindName(absl::string_view address) = 0;
  // Creates or replaces the name of `address`.
  virtual absl::Status SetName(absl::string_view address, absl::string_view name) = 0;
  // False when there was no record.
  virtual absl::StatusOr<bool> ForgetName(absl::string_view address) = 0;

  // Users. AddUser fails with AlreadyExists when the name is taken.
  virtual absl::Status AddUser(absl::string_view user, absl::string_view password_hash) = 0;
  // The stored hash (crypto_pwhash_str format), or nullopt for no such user.
  virtual absl::StatusOr<std::optional<std::string>> PasswordHash(absl::string_view user) = 0;
  // NotFound when there is no such user.
  virtual absl::Status SetPasswordHash(absl::string_view user, absl::string_view password_hash) = 0;

  // The user who last registered, logged in or resumed from `address`.
  virtual absl::StatusOr<std::optional<std::string>> UserAt(absl::string_view address) = 0;
  virtual absl::Status SetUserAt(absl::string_view address, absl::string_view user) = 0;

  // Sessions, keyed by the hash of their token.
  virtual absl::Status AddSession(absl::string_view token_hash, const StoredSession& session) = 0;
  // nullopt when unknown. Expired sessions are returned too: the caller
  // decides with its own clock.
  virtual absl::StatusOr<std::optional<StoredSession>> FindSession(
      absl::string_view token_hash) = 0;
  // False when there was no such session.
  virtual absl::StatusOr<bool> DeleteSession(absl::string_view token_hash) = 0;
  // Ends every session of `user` except the one whose hash is `keep`;
  // returns how many ended.
  virtual absl::StatusOr<int> DeleteOtherSessions(absl::string_view user,
                                                  absl::string_view keep) = 0;
  // Drops sessions that expired before `now`; returns how many.
  virtual absl::StatusOr<int> DeleteExpiredSessions(absl::Time now) = 0;

  // The failed-login log every server on this store shares, or null when
  // the store serves one process (which then counts in memory).
  virtual FailureLog* shared_failure_log() { return nullptr; }
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_STORE_H_
