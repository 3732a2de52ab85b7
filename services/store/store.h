// Copyright Switchboard authors.
//
// store.h: `Store`, what the identity and auth services keep between runs:
// names by client address, users with their password hashes, the user last
// seen at each address, and sessions by token hash. One implementation
// (SqliteStore) lives on a local file; the interface is what lets another
// (a database shared by several servers) take its place.
//
// Every call blocks on I/O, so services call it from the worker pool only.
// A call that returns OK has committed durably.

#ifndef SWITCHBOARD_SERVICES_STORE_STORE_H_
#define SWITCHBOARD_SERVICES_STORE_STORE_H_

#include <optional>
#include <string>

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
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_STORE_H_
