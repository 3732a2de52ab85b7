// Copyright Switchboard authors.

#include "services/auth/session_token.h"

#include <sodium.h>

#include "absl/strings/ascii.h"

namespace switchboard {

std::string NewSessionToken() {
  unsigned char bytes[kTokenBytes];
  randombytes_buf(bytes, sizeof bytes);
  char text[sodium_base64_ENCODED_LEN(kTokenBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(bytes, sizeof bytes);
  std::string token(text);
  sodium_memzero(text, sizeof text);
  return token;
}

bool IsWellFormedToken(absl::string_view token) {
  if (token.size() != kTokenChars) return false;
  // Checked here, not left to sodium_base642bin: libsodium 1.0.18 decodes
  // every byte from 0x80 up as '_' instead of refusing it.
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  unsigned char bytes[kTokenBytes];
  size_t length = 0;
  const char* end = nullptr;
  // Rejects non-zero spare bits, so that one token has one spelling.
  const int rc = sodium_base642bin(bytes, sizeof bytes, token.data(), token.size(), nullptr,
                                   &length, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(bytes, sizeof bytes);
  return rc == 0 && length == kTokenBytes && end == token.data() + token.size();
}

std::string TokenHash(absl::string_view token) {
  std::string hash(kTokenHashBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr,
                     0);
  return hash;
}

}  // namespace switchboard
