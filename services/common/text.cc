// Copyright Switchboard authors.

#include "services/common/text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard {
namespace {

// Decodes the code point at text[*i], advancing *i past it. Returns -1 for
// an ill-formed sequence (then *i is unspecified).
int32_t DecodeOne(absl::string_view text, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(*i);
  if (lead < 0x80) {
    ++*i;
    return lead;
  }
  int length;
  int32_t code;
  int32_t min;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (text.size() - *i < static_cast<size_t>(length)) return -1;
  for (int k = 1; k < length; ++k) {
    const uint8_t next = byte(*i + k);
    if ((next & 0xC0) != 0x80) return -1;
    code = (code << 6) | (next & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return -1;
  *i += length;
  return code;
}

bool IsControl(int32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// Unicode's White_Space property (PropList.txt).
bool IsWhitespace(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// True when some code point of valid UTF-8 `text` satisfies `pred`.
template <typename Pred>
bool AnyCodePoint(absl::string_view text, Pred pred) {
  size_t i = 0;
  while (i < text.size()) {
    const int32_t c = DecodeOne(text, &i);
    if (c < 0) return false;  // callers check validity first
    if (pred(c)) return true;
  }
  return false;
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (DecodeOne(text, &i) < 0) return false;
  }
  return true;
}

size_t Utf8Length(absl::string_view text) {
  size_t characters = 0;
  for (char c : text) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return characters;
}

bool HasControlCharacter(absl::string_view text) { return AnyCodePoint(text, IsControl); }

bool HasWhitespace(absl::string_view text) { return AnyCodePoint(text, IsWhitespace); }

std::vector<absl::string_view> SplitArguments(absl::string_view message) {
  if (message.empty()) return {};
  return absl::StrSplit(message, ' ');
}

absl::Status ValidateName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name is empty");
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name is longer than ", kMaxNameBytes, " bytes"));
  }
  if (!IsValidUtf8(name)) return absl::InvalidArgumentError("name is not valid UTF-8");
  if (HasControlCharacter(name)) {
    return absl::InvalidArgumentError("name contains a control character");
  }
  return absl::OkStatus();
}

absl::Status ValidateUserName(absl::string_view user) {
  if (user.empty() || user.size() > kMaxUserNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a user name is 1 to ", kMaxUserNameBytes, " characters"));
  }
  for (char c : user) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError("a user name may hold only A-Z a-z 0-9 _ . -");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePassword(absl::string_view password) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a password is ", kMinPasswordBytes, " to ", kMaxPasswordBytes, " bytes"));
  }
  if (!IsValidUtf8(password)) return absl::InvalidArgumentError("password is not valid UTF-8");
  if (HasControlCharacter(password) || HasWhitespace(password)) {
    return absl::InvalidArgumentError("a password may not hold whitespace or control characters");
  }
  return absl::OkStatus();
}

}  // namespace switchboard
