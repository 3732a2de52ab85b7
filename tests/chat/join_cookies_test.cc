// Copyright Switchboard authors.
//
// JoinCookies: a cookie is 11 base64url characters, holds for the 2-minute
// window it was made in and the next one only, binds the source address and
// port (IPv4 and IPv4-mapped IPv6 alike), and is keyed per instance.

#include "services/chat/join_cookies.h"

#include <sodium.h>

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "services/chat/peer_key.h"

namespace switchboard {
namespace {

// The start of a 2-minute window: 1'700'000'040 = 120 * 14'166'667.
const absl::Time kWindowStart = absl::FromUnixSeconds(1'700'000'040);

PeerKey Peer(absl::string_view ip, uint16_t port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(ip, port);
  EXPECT_TRUE(address.ok()) << address.status();
  return PeerKey::Of(*address);
}

class JoinCookiesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(JoinCookiesTest, CookieIsElevenBase64UrlCharacters) {
  JoinCookies cookies;
  const std::string cookie = cookies.Make(Peer("127.0.0.2", 5000), kWindowStart);
  ASSERT_EQ(cookie.size(), kCookieChars);
  ASSERT_EQ(kCookieChars, 11u);
  for (char c : cookie) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_')
        << "'" << c << "' in " << cookie;
  }
  // The same address in the same window: the same cookie (no state kept).
  EXPECT_EQ(cookies.Make(Peer("127.0.0.2", 5000), kWindowStart + absl::Seconds(119)), cookie);
}

TEST_F(JoinCookiesTest, ValidInItsWindowAndTheNextOnly) {
  JoinCookies cookies;
  const PeerKey peer = Peer("127.0.0.2", 5000);
  // Made at the very start of a window.
  const std::string early = cookies.Make(peer, kWindowStart);
  EXPECT_TRUE(cookies.Check(peer, early, kWindowStart));
  EXPECT_TRUE(cookies.Check(peer, early, kWindowStart + absl::Seconds(119)));
  EXPECT_TRUE(cookies.Check(peer, early, kWindowStart + absl::Seconds(120)));
  EXPECT_TRUE(cookies.Check(peer, early, kWindowStart + absl::Seconds(239)));
  EXPECT_FALSE(cookies.Check(peer, early, kWindowStart + absl::Seconds(240)));
  EXPECT_FALSE(cookies.Check(peer, early, kWindowStart + absl::Hours(1)));
  // Made at the very end of a window: two windows later is one second on.
  const std::string late = cookies.Make(peer, kWindowStart + absl::Seconds(119));
  EXPECT_TRUE(cookies.Check(peer, late, kWindowStart + absl::Seconds(239)));
  EXPECT_FALSE(cookies.Check(peer, late, kWindowStart + absl::Seconds(240)));
  // Not before it was made (a window earlier).
  EXPECT_FALSE(cookies.Check(peer, early, kWindowStart - absl::Seconds(1)));
}

TEST_F(JoinCookiesTest, BoundToAddressAndPort) {
  JoinCookies cookies;
  const std::string cookie = cookies.Make(Peer("127.0.0.2", 5000), kWindowStart);
  EXPECT_TRUE(cookies.Check(Peer("127.0.0.2", 5000), cookie, kWindowStart));
  EXPECT_FALSE(cookies.Check(Peer("127.0.0.2", 5001), cookie, kWindowStart));
  EXPECT_FALSE(cookies.Check(Peer("127.0.0.3", 5000), cookie, kWindowStart));
  EXPECT_FALSE(cookies.Check(Peer("::1", 5000), cookie, kWindowStart));
  EXPECT_NE(cookies.Make(Peer("127.0.0.2", 5001), kWindowStart), cookie);
  EXPECT_NE(cookies.Make(Peer("127.0.0.3", 5000), kWindowStart), cookie);
  // IPv4-mapped IPv6 is the same peer as plain IPv4.
  EXPECT_TRUE(cookies.Check(Peer("::ffff:127.0.0.2", 5000), cookie, kWindowStart));
  EXPECT_EQ(cookies.Make(Peer("::ffff:127.0.0.2", 5000), kWindowStart), cookie);
  // IPv6 works too.
  const std::string v6 = cookies.Make(Peer("::1", 5000), kWindowStart);
  EXPECT_TRUE(cookies.Check(Peer("::1", 5000), v6, kWindowStart));
  EXPECT_FALSE(cookies.Check(Peer("::2", 5000), v6, kWindowStart));
}

TEST_F(JoinCookiesTest, WrongLengthOrAlteredIsRefused) {
  JoinCookies cookies;
  const PeerKey peer = Peer("127.0.0.2", 5000);
  const std::string cookie = cookies.Make(peer, kWindowStart);
  EXPECT_FALSE(cookies.Check(peer, "", kWindowStart));
  EXPECT_FALSE(cookies.Check(peer, cookie.substr(0, 10), kWindowStart));
  EXPECT_FALSE(cookies.Check(peer, cookie + "A", kWindowStart));
  EXPECT_FALSE(cookies.Check(peer, cookie + cookie, kWindowStart));
  for (size_t i = 0; i < cookie.size(); ++i) {
    std::string altered = cookie;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(cookies.Check(peer, altered, kWindowStart)) << altered;
  }
}

TEST_F(JoinCookiesTest, TwoInstancesHaveDifferentKeys) {
  JoinCookies first;
  JoinCookies second;
  const PeerKey peer = Peer("127.0.0.2", 5000);
  const std::string a = first.Make(peer, kWindowStart);
  const std::string b = second.Make(peer, kWindowStart);
  EXPECT_NE(a, b);
  EXPECT_TRUE(first.Check(peer, a, kWindowStart));
  EXPECT_TRUE(second.Check(peer, b, kWindowStart));
  EXPECT_FALSE(first.Check(peer, b, kWindowStart));
  EXPECT_FALSE(second.Check(peer, a, kWindowStart));
}

}  // namespace
}  // namespace switchboard
