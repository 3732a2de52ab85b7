// Copyright Switchboard authors.

#include "services/chat/join_cookies.h"

#include <cstring>

#include "absl/time/time.h"

namespace switchboard {
namespace {

constexpr size_t kMacBytes = 8;

int64_t WindowOf(absl::Time now) {
  return absl::ToInt64Seconds(now - absl::UnixEpoch()) / absl::ToInt64Seconds(JoinCookies::kWindow);
}

}  // namespace

JoinCookies::JoinCookies() { crypto_generichash_keygen(key_.data()); }

JoinCookies::~JoinCookies() { sodium_memzero(key_.data(), key_.size()); }

void JoinCookies::MakeInto(const PeerKey& from, int64_t window, char* out) const {
  unsigned char input[18 + 8];
  std::memcpy(input, from.bytes.data(), 18);
  for (int i = 0; i < 8; ++i) input[18 + i] = static_cast<unsigned char>(window >> (8 * i));
  unsigned char mac[kMacBytes];
  crypto_generichash(mac, sizeof mac, input, sizeof input, key_.data(), key_.size());
  char text[sodium_base64_ENCODED_LEN(kMacBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::memcpy(out, text, kCookieChars);
}

std::string JoinCookies::Make(const PeerKey& from, absl::Time now) const {
  std::string cookie(kCookieChars, '\0');
  MakeInto(from, WindowOf(now), cookie.data());
  return cookie;
}

bool JoinCookies::Check(const PeerKey& from, absl::string_view cookie, absl::Time now) const {
  if (cookie.size() != kCookieChars) return false;
  const int64_t window = WindowOf(now);
  char current[kCookieChars];
  char previous[kCookieChars];
  MakeInto(from, window, current);
  MakeInto(from, window - 1, previous);
  // Both compared, whatever the first says, so timing tells nothing.
  const bool is_current = sodium_memcmp(current, cookie.data(), kCookieChars) == 0;
  const bool is_previous = sodium_memcmp(previous, cookie.data(), kCookieChars) == 0;
  return is_current | is_previous;
}

}  // namespace switchboard
