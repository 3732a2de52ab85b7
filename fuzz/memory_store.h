// Copyright Switchboard authors.
//
// memory_store.h: `MemoryStore`, a Store in a few maps, for the session
// fuzzers: fast and deterministic, and able to fail the next call on
// demand so that the services' error paths get fuzzed too. Not a test of a
// store; not thread-safe (the fuzzers call it from one thread).

#ifndef SWITCHBOARD_FUZZ_MEMORY_STORE_H_
#define SWITCHBOARD_FUZZ_MEMORY_STORE_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "services/store/store.h"

namespace switchboard::fuzz {

class MemoryStore final : public Store {
 public:
  // The `n`th call from now (1: the next) returns Unavailable and changes
  // nothing.
  void FailCall(int n) { fail_in_ = n; }

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
  // True (and the failure is used up) when this call is to fail.
  bool Fail();

  int fail_in_ = 0;
  absl::flat_hash_map<std::string, std::string> names_;
  absl::flat_hash_map<std::string, std::string> hashes_;
  absl::flat_hash_map<std::string, std::string> users_at_;
  absl::flat_hash_map<std::string, StoredSession> sessions_;
};

}  // namespace switchboard::fuzz

#endif  // SWITCHBOARD_FUZZ_MEMORY_STORE_H_
