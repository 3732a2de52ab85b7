// Copyright Switchboard authors.
//
// text.h: the rules for what a service accepts as text: strict UTF-8,
// arguments split on single spaces, and what makes a good name, user name
// or password (SPEC.md, identity and auth). Pure functions; any thread.

#ifndef SWITCHBOARD_SERVICES_COMMON_TEXT_H_
#define SWITCHBOARD_SERVICES_COMMON_TEXT_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

inline constexpr size_t kMaxNameBytes = 64;
inline constexpr size_t kMaxUserNameBytes = 32;
inline constexpr size_t kMinPasswordBytes = 8;
inline constexpr size_t kMaxPasswordBytes = 256;

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
// U+10FFFF.
bool IsValidUtf8(absl::string_view text);

// Characters (code points) in valid UTF-8 `text`.
size_t Utf8Length(absl::string_view text);

// True when valid UTF-8 `text` holds a Unicode control character (general
// category Cc: U+0000-001F, U+007F-009F).
bool HasControlCharacter(absl::string_view text);

// True when valid UTF-8 `text` holds a character with the Unicode
// White_Space property (ASCII spaces, NEL, NBSP, the U+2000 block, ...).
bool HasWhitespace(absl::string_view text);

// Splits a command on single spaces: "a  b" has an empty middle argument,
// which callers reject as a usage error. An empty message has no arguments.
std::vector<absl::string_view> SplitArguments(absl::string_view message);

// identity's names: 1 to 64 bytes of UTF-8 without control characters.
// The error's message is the reason, ready for "400 <reason>".
absl::Status ValidateName(absl::string_view name);

// auth's user names: [A-Za-z0-9_.-]{1,32}.
absl::Status ValidateUserName(absl::string_view user);

// auth's passwords: one word of 8 to 256 bytes of UTF-8, no whitespace or
// control characters.
absl::Status ValidatePassword(absl::string_view password);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_COMMON_TEXT_H_
