// Copyright Switchboard authors.
//
// chat_fuzzer: the chat room's datagrams (JOIN with and without a cookie,
// MSG, WHO, PING, HISTORY, LEAVE, bad keys, UTF-8, sizes, the rate limit and
// idle members) from several source addresses, on a fixed clock moved by
// the input, and the join cookies on their own.
//
// Input, per datagram: [control][length][data]. control bits 0-2 pick the
// source address, bits 3-5 how far the clock moves first, bit 6 runs the
// idle expiry, bit 7 says the datagram was cut (its real size over 1200).
// In the data, "$COOKIE" becomes the last cookie sent to the source and
// "$KEY" the key it was given, so later steps are reachable.
//
// Checks: every datagram sent fits in 1200 bytes and is UTF-8; broadcasts
// go only to members; an address that has not shown it receives (by
// returning a cookie) gets at most one datagram per request, of at most 3
// times its size; a cookie checks only for its address and windows.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "fuzz/fuzz_util.h"
#include "reactor/inet_address.h"
#include "services/chat/chat_room.h"
#include "services/chat/join_cookies.h"
#include "services/chat/peer_key.h"
#include "services/common/text.h"

namespace switchboard {
namespace {

constexpr absl::string_view kSources[8][2] = {
    {"127.0.0.1", "5000"},        {"127.0.0.1", "5001"}, {"127.0.0.2", "5000"}, {"::1", "5000"},
    {"::ffff:127.0.0.1", "5000"}, {"10.9.8.7", "65535"}, {"fe80::1", "1"},      {"192.0.2.1", "0"},
};
constexpr absl::Duration kSteps[8] = {
    absl::ZeroDuration(), absl::Milliseconds(10), absl::Seconds(1), absl::Seconds(20),
    absl::Seconds(61),    absl::Minutes(2),       absl::Minutes(5), absl::Hours(1),
};

InetAddress Source(int i) {
  uint32_t port = 0;
  FUZZ_CHECK(absl::SimpleAtoi(kSources[i][1], &port));
  return *InetAddress::Parse(kSources[i][0], static_cast<uint16_t>(port));
}

class CheckedOutput final : public ChatOutput {
 public:
  void SendTo(const InetAddress& to, absl::string_view datagram) override {
    Check(datagram);
    const PeerKey peer = PeerKey::Of(to);
    if (!proven_.contains(peer)) {
      FUZZ_CHECK(++to_stranger_ == 1);
      FUZZ_CHECK(datagram.size() <= 3 * request_size_);
    }
    if (absl::StartsWith(datagram, "COOKIE ")) cookies_[peer] = std::string(datagram.substr(7));
    if (absl::StartsWith(datagram, "OK ")) {
      const std::vector<absl::string_view> words = absl::StrSplit(datagram, ' ');
      FUZZ_CHECK(words.size() == 3 && words[1].size() == kMemberKeyChars);
      keys_[peer] = std::string(words[1]);
    }
  }
  void SendToEach(absl::Span<const InetAddress> to, absl::string_view datagram) override {
    Check(datagram);
    for (const InetAddress& address : to) FUZZ_CHECK(proven_.contains(PeerKey::Of(address)));
  }

  // Before each datagram: its real size.
  void Begin(size_t size) {
    request_size_ = size;
    to_stranger_ = 0;
  }
  // The datagram from `from` with its placeholders filled in.
  std::string Substitute(const PeerKey& from, absl::string_view data) {
    std::string text =
        absl::StrReplaceAll(data, {{"$COOKIE", cookies_[from]}, {"$KEY", keys_[from]}});
    if (!cookies_[from].empty() && absl::StrContains(text, cookies_[from])) proven_.insert(from);
    return text;
  }

 private:
  static void Check(absl::string_view datagram) {
    FUZZ_CHECK(!datagram.empty() && datagram.size() <= kMaxChatDatagram);
    FUZZ_CHECK(IsValidUtf8(datagram));
  }

  size_t request_size_ = 0;
  int to_stranger_ = 0;
  absl::flat_hash_set<PeerKey> proven_;
  absl::flat_hash_map<PeerKey, std::string> cookies_;
  absl::flat_hash_map<PeerKey, std::string> keys_;
};

void CheckCookies(const JoinCookies& cookies, const PeerKey& from, const PeerKey& other,
                  absl::string_view data, absl::Time now) {
  const std::string current = cookies.Make(from, now);
  const std::string previous = cookies.Make(from, now - JoinCookies::kWindow);
  FUZZ_CHECK(current.size() == kCookieChars && previous.size() == kCookieChars);
  FUZZ_CHECK(cookies.Check(from, current, now) && cookies.Check(from, previous, now));
  FUZZ_CHECK(!cookies.Check(from, current, now + 2 * JoinCookies::kWindow));
  if (!(other == from)) FUZZ_CHECK(!cookies.Check(other, current, now));
  const bool expected = data == current || data == previous;
  FUZZ_CHECK(cookies.Check(from, data, now) == expected);
}

}  // namespace
}  // namespace switchboard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace switchboard;
  fuzz::Init();
  fuzz::Input in(data, size);
  CheckedOutput output;
  ChatOptions options;
  options.max_members = 4;
  options.history = 8;
  ChatRoom room(options, &output);
  JoinCookies cookies;
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  while (!in.empty()) {
    const uint8_t control = in.Byte();
    const absl::string_view raw = in.Bytes(in.Byte());
    const InetAddress from = Source(control & 7);
    const PeerKey peer = PeerKey::Of(from);
    now += kSteps[(control >> 3) & 7];
    if (control & 0x40) room.ExpireIdleMembers(now);
    const std::string text = output.Substitute(peer, raw);
    const size_t real_size = (control & 0x80) ? kMaxChatDatagram + 1 + text.size() : text.size();
    output.Begin(real_size);
    room.OnDatagram(from, text, real_size, now);
    CheckCookies(cookies, peer, PeerKey::Of(Source((control + 1) & 7)), raw, now);
  }
  return 0;
}
