// Copyright Switchboard authors.
//
// join_cookies.h: `JoinCookies`, the stateless proof that a chat client can
// receive at the address it sends from (the cookie exchange of DTLS and
// QUIC). A cookie is a 64-bit keyed BLAKE2b MAC over the source address and
// the current 2-minute window, base64url (11 characters). The server keeps
// nothing per cookie; the key is made at start-up, so a restart voids all.

#ifndef SWITCHBOARD_SERVICES_CHAT_JOIN_COOKIES_H_
#define SWITCHBOARD_SERVICES_CHAT_JOIN_COOKIES_H_

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/chat/peer_key.h"

namespace switchboard {

inline constexpr size_t kCookieChars = 11;

// Thread-compatible: const after construction.
class JoinCookies {
 public:
  static constexpr absl::Duration kWindow = absl::Minutes(2);

  // A fresh random key. Needs libsodium initialised.
  JoinCookies();
  ~JoinCookies();
  JoinCookies(const JoinCookies&) = delete;
  JoinCookies& operator=(const JoinCookies&) = delete;

  // The cookie for `from` at `now`.
  std::string Make(const PeerKey& from, absl::Time now) const;
  // True for a cookie made for `from` in the window of `now` or the one
  // before. Constant-time in the cookie.
  bool Check(const PeerKey& from, absl::string_view cookie, absl::Time now) const;

 private:
  void MakeInto(const PeerKey& from, int64_t window, char* out) const;

  std::array<unsigned char, crypto_generichash_KEYBYTES> key_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_JOIN_COOKIES_H_
