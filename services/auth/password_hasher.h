// Copyright Switchboard authors.
//
// password_hasher.h: `PasswordHasher`, Argon2id password hashes through
// libsodium's crypto_pwhash_str at one of libsodium's cost levels.
//
// Every call but the constructor spends the full hashing time and memory
// (up to 1 GiB at `sensitive`): call it from the worker pool only.

#ifndef SWITCHBOARD_SERVICES_AUTH_PASSWORD_HASHER_H_
#define SWITCHBOARD_SERVICES_AUTH_PASSWORD_HASHER_H_

#include <cstddef>
#include <string>

#include "absl/base/call_once.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// libsodium's levels; kMin is its minimum, for tests only.
enum class PwhashCost { kMin, kInteractive, kModerate, kSensitive };

// "min", "interactive", "moderate", "sensitive".
absl::StatusOr<PwhashCost> ParsePwhashCost(absl::string_view name);
absl::string_view PwhashCostName(PwhashCost cost);

// Thread-safe: const after construction (the dummy hash is made once, on
// first use, under absl::call_once).
class PasswordHasher {
 public:
  // Initialises libsodium; call once before anything else uses it.
  static absl::Status InitSodium();

  explicit PasswordHasher(PwhashCost cost);
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  PwhashCost cost() const { return cost_; }

  // A string in crypto_pwhash_str's format, salt included.
  absl::StatusOr<std::string> Hash(absl::string_view password) const;
  // Constant-time in the password; false for a malformed stored hash.
  bool Verify(absl::string_view stored_hash, absl::string_view password) const;
  // Spends what Verify would, against a hash of a random password, so a
  // login for a user that does not exist takes as long as for one that does.
  void VerifyDummy(absl::string_view password) const;
  // True when `stored_hash` was made at another cost (or is not a hash this
  // build understands): the caller rehashes at the next successful login.
  bool NeedsRehash(absl::string_view stored_hash) const;

 private:
  const PwhashCost cost_;
  const unsigned long long opslimit_;
  const size_t memlimit_;
  mutable absl::once_flag dummy_once_;
  mutable std::string dummy_hash_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_PASSWORD_HASHER_H_
