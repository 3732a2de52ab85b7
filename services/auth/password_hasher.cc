// Copyright Switchboard authors.

#include "services/auth/password_hasher.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

unsigned long long OpsLimit(PwhashCost cost) {
  switch (cost) {
    case PwhashCost::kMin:
      return crypto_pwhash_OPSLIMIT_MIN;
    case PwhashCost::kInteractive:
      return crypto_pwhash_OPSLIMIT_INTERACTIVE;
    case PwhashCost::kModerate:
      return crypto_pwhash_OPSLIMIT_MODERATE;
    case PwhashCost::kSensitive:
      return crypto_pwhash_OPSLIMIT_SENSITIVE;
  }
  return crypto_pwhash_OPSLIMIT_INTERACTIVE;
}

size_t MemLimit(PwhashCost cost) {
  switch (cost) {
    case PwhashCost::kMin:
      return crypto_pwhash_MEMLIMIT_MIN;
    case PwhashCost::kInteractive:
      return crypto_pwhash_MEMLIMIT_INTERACTIVE;
    case PwhashCost::kModerate:
      return crypto_pwhash_MEMLIMIT_MODERATE;
    case PwhashCost::kSensitive:
      return crypto_pwhash_MEMLIMIT_SENSITIVE;
  }
  return crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

// crypto_pwhash_str_* read a C string.
bool FitsHashBuffer(absl::string_view stored_hash) {
  return stored_hash.size() < crypto_pwhash_STRBYTES &&
         stored_hash.find('\0') == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<PwhashCost> ParsePwhashCost(absl::string_view name) {
  if (name == "min") return PwhashCost::kMin;
  if (name == "interactive") return PwhashCost::kInteractive;
  if (name == "moderate") return PwhashCost::kModerate;
  if (name == "sensitive") return PwhashCost::kSensitive;
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a cost; use interactive, moderate, sensitive or min"));
}

absl::string_view PwhashCostName(PwhashCost cost) {
  switch (cost) {
    case PwhashCost::kMin:
      return "min";
    case PwhashCost::kInteractive:
      return "interactive";
    case PwhashCost::kModerate:
      return "moderate";
    case PwhashCost::kSensitive:
      return "sensitive";
  }
  return "unknown";
}

absl::Status PasswordHasher::InitSodium() {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  return absl::OkStatus();
}

PasswordHasher::PasswordHasher(PwhashCost cost)
    : cost_(cost), opslimit_(OpsLimit(cost)), memlimit_(MemLimit(cost)) {}

absl::StatusOr<std::string> PasswordHasher::Hash(absl::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), opslimit_, memlimit_) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("crypto_pwhash_str failed (out of memory for ", memlimit_ >> 20, " MiB?)"));
  }
  return std::string(out);
}

bool PasswordHasher::Verify(absl::string_view stored_hash, absl::string_view password) const {
  if (!FitsHashBuffer(stored_hash)) return false;
  const std::string hash(stored_hash);
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void PasswordHasher::VerifyDummy(absl::string_view password) const {
  absl::call_once(dummy_once_, [this] {
    unsigned char random[16];
    randombytes_buf(random, sizeof random);
    char text[sizeof random * 2 + 1];
    sodium_bin2hex(text, sizeof text, random, sizeof random);
    absl::StatusOr<std::string> hash = Hash(text);
    sodium_memzero(text, sizeof text);
    // Without memory for the dummy, Verify below fails fast: the timing
    // then differs, but so does every other login's, which fails the same.
    dummy_hash_ = hash.ok() ? *std::move(hash) : std::string();
  });
  (void)Verify(dummy_hash_, password);
}

bool PasswordHasher::NeedsRehash(absl::string_view stored_hash) const {
  if (!FitsHashBuffer(stored_hash)) return true;
  const std::string hash(stored_hash);
  return crypto_pwhash_str_needs_rehash(hash.c_str(), opslimit_, memlimit_) != 0;
}

}  // namespace switchboard
