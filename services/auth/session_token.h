// Copyright Switchboard authors.
//
// session_token.h: auth's session tokens. 32 random bytes from libsodium,
// base64url without padding on the wire (43 characters); the store keeps
// only their BLAKE2b hash, so a copy of the database does not log anyone in.
// Lookups go by that hash, so the time a lookup takes reveals nothing
// usable about a token. Pure functions; any thread.

#ifndef SWITCHBOARD_SERVICES_AUTH_SESSION_TOKEN_H_
#define SWITCHBOARD_SERVICES_AUTH_SESSION_TOKEN_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard {

inline constexpr size_t kTokenBytes = 32;
inline constexpr size_t kTokenChars = 43;  // base64url of 32 bytes, unpadded
inline constexpr size_t kTokenHashBytes = 32;

// A fresh token in its wire form. Needs libsodium initialised.
std::string NewSessionToken();

// True for exactly what NewSessionToken can produce: 43 characters of
// A-Z a-z 0-9 _ - that decode to 32 bytes.
bool IsWellFormedToken(absl::string_view token);

// The 32-byte hash (raw bytes) under which the store keeps a token.
std::string TokenHash(absl::string_view token);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_SESSION_TOKEN_H_
