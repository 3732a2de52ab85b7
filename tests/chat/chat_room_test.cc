// Copyright Switchboard authors.
//
// ChatRoom against a recording ChatOutput and explicit clock readings: the
// two-step join and its cookie windows, silence towards strangers, nick
// rules, MSG/WHO/PING/HISTORY/LEAVE, the sequence counter, the 1200-byte
// limit on everything sent, errors to members, idle timeouts, the rate
// limit, trailing newlines and IPv4-mapped IPv6 sources.

#include "services/chat/chat_room.h"

#include <sodium.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "services/chat/join_cookies.h"
#include "services/chat/peer_key.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

// The start of a 2-minute cookie window: 1'700'000'040 = 120 * 14'166'667.
const absl::Time kStart = absl::FromUnixSeconds(1'700'000'040);

InetAddress Address(absl::string_view ip, uint16_t port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(ip, port);
  EXPECT_TRUE(address.ok()) << address.status();
  return *address;
}

// 127.0.0.<host>:<port>
InetAddress Local(int host, uint16_t port = 40000) {
  return Address(absl::StrCat("127.0.0.", host), port);
}

// Records every datagram with its destination; SendToEach records one entry
// per destination. Fails the test on any datagram over 1200 bytes.
class RecordingOutput final : public ChatOutput {
 public:
  struct Sent {
    InetAddress to;
    std::string datagram;
  };

  void SendTo(const InetAddress& to, absl::string_view datagram) override { Record(to, datagram); }
  void SendToEach(absl::Span<const InetAddress> to, absl::string_view datagram) override {
    for (const InetAddress& address : to) Record(address, datagram);
  }

  // Removes and returns what went to `to` (compared as peers, so that
  // IPv4-mapped and plain IPv4 are one), in order.
  std::vector<std::string> Take(const InetAddress& to) {
    const PeerKey key = PeerKey::Of(to);
    std::vector<std::string> taken;
    std::vector<Sent> kept;
    for (Sent& sent : sent_) {
      if (PeerKey::Of(sent.to) == key) {
        taken.push_back(std::move(sent.datagram));
      } else {
        kept.push_back(std::move(sent));
      }
    }
    sent_ = std::move(kept);
    return taken;
  }
  const std::vector<Sent>& sent() const { return sent_; }
  size_t size() const { return sent_.size(); }
  void Clear() { sent_.clear(); }

 private:
  void Record(const InetAddress& to, absl::string_view datagram) {
    EXPECT_LE(datagram.size(), kMaxChatDatagram)
        << "to " << to.ToString() << ": " << datagram.substr(0, 60) << "...";
    sent_.push_back(Sent{to, std::string(datagram)});
  }

  std::vector<Sent> sent_;
};

struct Member {
  InetAddress address;
  std::string nick;
  std::string key;
};

class ChatRoomTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }

  ChatRoomTest() { MakeRoom(ChatOptions()); }

  void MakeRoom(const ChatOptions& options) {
    out_.Clear();
    room_ = std::make_unique<ChatRoom>(options, &out_);
  }

  void Send(const InetAddress& from, absl::string_view data) {
    room_->OnDatagram(from, data, data.size(), now_);
  }
  // Sends, then takes what went back to `from`.
  std::vector<std::string> Ask(const InetAddress& from, absl::string_view data) {
    Send(from, data);
    return out_.Take(from);
  }
  // Sends, expects exactly one reply to `from` and returns it.
  std::string AskOne(const InetAddress& from, absl::string_view data) {
    std::vector<std::string> replies = Ask(from, data);
    EXPECT_THAT(replies, SizeIs(1)) << "for " << data;
    return replies.empty() ? "<nothing>" : replies.front();
  }

  // Step one: the cookie for `from` (empty when none came).
  std::string Cookie(const InetAddress& from, absl::string_view nick = "x") {
    std::vector<std::string> replies = Ask(from, absl::StrCat("JOIN ", nick));
    if (replies.size() != 1 || !absl::StartsWith(replies[0], "COOKIE ")) {
      ADD_FAILURE() << "no single COOKIE reply for JOIN " << nick;
      return "";
    }
    return replies[0].substr(7);
  }

  // Both steps; checks the OK and the JOINED, then forgets everything sent.
  Member Join(absl::string_view nick, const InetAddress& from) {
    const std::string cookie = Cookie(from, nick);
    std::vector<std::string> replies = Ask(from, absl::StrCat("JOIN ", nick, " ", cookie));
    Member member{from, std::string(nick), ""};
    EXPECT_THAT(replies, SizeIs(2)) << "joining " << nick;
    if (replies.size() == 2) {
      std::vector<std::string> ok = absl::StrSplit(replies[0], ' ');
      EXPECT_EQ(ok.size(), 3u) << replies[0];
      EXPECT_EQ(ok[0], "OK") << replies[0];
      if (ok.size() == 3) member.key = ok[1];
      EXPECT_EQ(replies[1], absl::StrCat("JOINED ", room_->last_sequence(), " ", nick));
    }
    out_.Clear();
    return member;
  }

  static std::string Key(const Member& member) { return member.key; }

  RecordingOutput out_;
  std::unique_ptr<ChatRoom> room_;
  absl::Time now_ = kStart + absl::Seconds(10);
};

// ---------------------------------------------------------------- joining

TEST_F(ChatRoomTest, TwoStepJoin) {
  const InetAddress alice = Local(2);
  std::vector<std::string> first = Ask(alice, "JOIN alice");
  ASSERT_THAT(first, SizeIs(1));
  EXPECT_THAT(first[0], MatchesRegex("COOKIE [A-Za-z0-9_-]{11}"));
  EXPECT_EQ(out_.size(), 0u) << "nothing to anyone else";
  EXPECT_EQ(room_->member_count(), 0u) << "no state for a cookie";

  std::vector<std::string> second = Ask(alice, absl::StrCat("JOIN alice ", first[0].substr(7)));
  ASSERT_THAT(second, SizeIs(2));
  EXPECT_THAT(second[0], MatchesRegex("OK [A-Za-z0-9_-]{22} 1"));
  EXPECT_EQ(second[1], "JOINED 1 alice");
  EXPECT_EQ(room_->member_count(), 1u);

  // A second member: OK first, then JOINED to both, the joiner included.
  const InetAddress bob = Local(3);
  const std::string cookie = Cookie(bob, "bob");
  Send(bob, absl::StrCat("JOIN bob ", cookie));
  std::vector<std::string> to_bob = out_.Take(bob);
  ASSERT_THAT(to_bob, SizeIs(2));
  EXPECT_THAT(to_bob[0], MatchesRegex("OK [A-Za-z0-9_-]{22} 2"));
  EXPECT_EQ(to_bob[1], "JOINED 2 bob");
  EXPECT_THAT(out_.Take(alice), ElementsAre("JOINED 2 bob"));
  EXPECT_EQ(out_.size(), 0u);
  // Keys differ.
  EXPECT_NE(second[0].substr(3, 22), to_bob[0].substr(3, 22));
}

TEST_F(ChatRoomTest, CookieValidInItsWindowAndTheNextOnly) {
  const InetAddress alice = Local(2);
  now_ = kStart;
  const std::string cookie = Cookie(alice);
  // Two windows later: silence.
  now_ = kStart + absl::Seconds(240);
  EXPECT_THAT(Ask(alice, absl::StrCat("JOIN alice ", cookie)), IsEmpty());
  // In the next window: still good.
  now_ = kStart + absl::Seconds(239);
  std::vector<std::string> replies = Ask(alice, absl::StrCat("JOIN alice ", cookie));
  ASSERT_THAT(replies, SizeIs(2));
  EXPECT_THAT(replies[0], MatchesRegex("OK [A-Za-z0-9_-]{22} 1"));

  // And in its own window.
  const InetAddress bob = Local(3);
  now_ = kStart + absl::Seconds(250);
  const std::string bob_cookie = Cookie(bob);
  now_ = kStart + absl::Seconds(359);
  replies = Ask(bob, absl::StrCat("JOIN bob ", bob_cookie));
  ASSERT_THAT(replies, SizeIs(2));
  EXPECT_THAT(replies[0], MatchesRegex("OK [A-Za-z0-9_-]{22} 2"));
}

TEST_F(ChatRoomTest, CookieFromAnotherAddressOrPortIsIgnored) {
  const InetAddress alice = Local(2, 40000);
  const std::string cookie = Cookie(alice);
  for (const InetAddress& other : {Local(2, 40001), Local(3, 40000), Address("::1", 40000)}) {
    Send(other, absl::StrCat("JOIN alice ", cookie));
    EXPECT_EQ(out_.size(), 0u) << other.ToString();
  }
  EXPECT_EQ(room_->member_count(), 0u);
  // Still good from its own address.
  EXPECT_THAT(Ask(alice, absl::StrCat("JOIN alice ", cookie)), SizeIs(2));
}

TEST_F(ChatRoomTest, StrangersGetNothingButTheCookie) {
  const Member alice = Join("alice", Local(2));
  const InetAddress stranger = Local(9);
  const std::string cookie_for_alice = JoinCookies().Make(PeerKey::Of(alice.address), now_);
  const std::vector<std::string> probes = {
      absl::StrCat("WHO ", alice.key),
      absl::StrCat("PING ", alice.key),
      absl::StrCat("HISTORY ", alice.key, " 0"),
      absl::StrCat("MSG ", alice.key, " hello"),
      absl::StrCat("LEAVE ", alice.key),
      "WHO",
      "PING",
      "HISTORY 0",
      "MSG hi there",
      "LEAVE",
      "DANCE",
      "",
      " ",
      "\n",
      "JOIN",
      "JOIN ",
      "JOIN  x",
      "JOIN bob ",
      "JOIN bob AAAAAAAAAAA",
      "JOIN bob short",
      absl::StrCat("JOIN bob ", cookie_for_alice),
      "JOIN \xFF\xFE",
      "\xFF\xFE\xFD garbage",
      "\xC0\xAF",
      std::string("\0\0\0\0", 4),
      std::string(1201, 'x'),
      absl::StrCat("JOIN ", std::string(1300, 'y')),
      // Nicks that could never join get no cookie either.
      std::string("JOIN a\0b", 8),
      "JOIN a\tb",
      "JOIN a\x7f",
      absl::StrCat("JOIN ", std::string(kMaxNickChars + 1, 'n')),
  };
  for (const std::string& probe : probes) {
    Send(stranger, probe);
    EXPECT_EQ(out_.size(), 0u) << "for '" << absl::CHexEscape(probe) << "'";
    out_.Clear();
  }
  // Cut on receipt: the real size counts.
  room_->OnDatagram(stranger, "JOIN bob", 5000, now_);
  EXPECT_EQ(out_.size(), 0u);
  EXPECT_EQ(room_->member_count(), 1u);
  EXPECT_EQ(room_->last_sequence(), 1u) << "nothing was broadcast";
}

TEST_F(ChatRoomTest, CookieReplyIsAtMostThreeTimesTheRequest) {
  const InetAddress stranger = Local(9);
  for (absl::string_view request : {"JOIN x", "JOIN x\n", "JOIN ab", "JOIN \xC3\xA9"}) {
    std::vector<std::string> replies = Ask(stranger, request);
    ASSERT_THAT(replies, SizeIs(1)) << request;
    EXPECT_LE(replies[0].size(), 3 * request.size()) << request;
  }
  EXPECT_EQ(out_.size(), 0u);
}

TEST_F(ChatRoomTest, NickRules) {
  const InetAddress from = Local(2);
  // The cookie is the address's, whatever the nick: a bad nick gets none
  // (step one), and ERR 400 with a cookie got for a good one (step two).
  const auto join = [&](absl::string_view nick) {
    return Ask(from, absl::StrCat("JOIN ", nick, " ", Cookie(from)));
  };
  std::string emoji32;
  for (int i = 0; i < 32; ++i) emoji32 += "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes
  std::string accents33;
  for (int i = 0; i < 33; ++i) accents33 += "\xC3\xA9";  // é, 2 bytes
  for (const std::string& bad :
       {std::string(33, 'n'), accents33, emoji32 + "x", std::string("tab\there"),
        std::string("bell\x07"), std::string("del\x7F"), std::string("nel\xC2\x85"),
        std::string("nbsp\xC2\xA0x"), std::string("ideo\xE3\x80\x80x"),
        std::string("em\xE2\x80\x83x"), std::string("nul\0x", 5)}) {
    EXPECT_THAT(Ask(from, absl::StrCat("JOIN ", bad)), SizeIs(0)) << absl::CHexEscape(bad);
    std::vector<std::string> replies = join(bad);
    ASSERT_THAT(replies, SizeIs(1)) << absl::CHexEscape(bad);
    EXPECT_THAT(replies[0], ::testing::StartsWith("ERR 400 ")) << absl::CHexEscape(bad);
  }
  EXPECT_EQ(room_->member_count(), 0u);

  // 32 characters is the longest, in bytes up to 128.
  std::vector<std::string> ok = join(emoji32);
  ASSERT_THAT(ok, SizeIs(2));
  EXPECT_THAT(ok[0], MatchesRegex("OK [A-Za-z0-9_-]{22} 1"));
  EXPECT_EQ(ok[1], absl::StrCat("JOINED 1 ", emoji32));
  const Member ascii = Join(std::string(32, 'n'), Local(3));
  const Member one = Join("z", Local(4));
  EXPECT_EQ(room_->member_count(), 3u);
}

// One host holds at most max_members_per_address places, members and
// joins under way: an IPv4 address, or an IPv6 /64 (a host's whole
// prefix); other hosts still join, and a member leaving frees a place.
TEST_F(ChatRoomTest, OneHostHoldsAtMostItsShareOfPlaces) {
  ChatOptions options;
  options.max_members_per_address = 2;
  MakeRoom(options);
  const Member a = Join("a", Local(2, 1001));
  Join("b", Local(2, 1002));
  const InetAddress third = Local(2, 1003);
  EXPECT_EQ(AskOne(third, absl::StrCat("JOIN c ", Cookie(third))),
            "ERR 503 too many members from your address");
  Join("d", Local(3, 1003));
  // IPv6: the /64 is the host.
  Join("e", Address("2001:db8:1:2::10", 1000));
  Join("f", Address("2001:db8:1:2::11", 1000));
  const InetAddress same_prefix = Address("2001:db8:1:2:ffff::1", 1000);
  EXPECT_EQ(AskOne(same_prefix, absl::StrCat("JOIN g ", Cookie(same_prefix))),
            "ERR 503 too many members from your address");
  Join("h", Address("2001:db8:1:3::10", 1000));
  EXPECT_EQ(room_->member_count(), 6u);
  // A place given back is a place again.
  Send(a.address, absl::StrCat("LEAVE ", a.key));
  out_.Clear();
  Join("c", third);
  EXPECT_EQ(room_->member_count(), 6u);
}

TEST_F(ChatRoomTest, NickTaken) {
  const Member alice = Join("alice", Local(2));
  const InetAddress other = Local(3);
  EXPECT_EQ(AskOne(other, absl::StrCat("JOIN alice ", Cookie(other))), "ERR 409 nick taken");
  EXPECT_THAT(out_.Take(alice.address), IsEmpty());
  EXPECT_EQ(room_->member_count(), 1u);
  // Another nick is fine from the same address.
  Join("alice2", other);
  EXPECT_EQ(room_->member_count(), 2u);
  // A member joining again is told so.
  EXPECT_THAT(AskOne(alice.address, absl::StrCat("JOIN carol ", Cookie(alice.address))),
              ::testing::StartsWith("ERR 409 "));
  EXPECT_EQ(room_->member_count(), 2u);
}

TEST_F(ChatRoomTest, RoomFull) {
  ChatOptions options;
  options.max_members = 2;
  MakeRoom(options);
  Join("alice", Local(2));
  Join("bob", Local(3));
  const InetAddress carol = Local(4);
  EXPECT_EQ(AskOne(carol, absl::StrCat("JOIN carol ", Cookie(carol))), "ERR 503 room full");
  EXPECT_EQ(out_.size(), 0u) << "no broadcast";
  EXPECT_EQ(room_->member_count(), 2u);
  EXPECT_EQ(room_->last_sequence(), 2u);
}

// ---------------------------------------------------------------- members

TEST_F(ChatRoomTest, MessagesGoToEveryoneWithOneSequence) {
  const Member alice = Join("alice", Local(2));  // JOINED 1
  const Member bob = Join("bob", Local(3));      // JOINED 2
  Send(alice.address, absl::StrCat("MSG ", alice.key, " hello  big   world "));
  EXPECT_THAT(out_.Take(alice.address), ElementsAre("MSG 3 alice hello  big   world "));
  EXPECT_THAT(out_.Take(bob.address), ElementsAre("MSG 3 alice hello  big   world "));
  EXPECT_EQ(out_.size(), 0u);

  Send(bob.address, absl::StrCat("LEAVE ", bob.key));
  EXPECT_THAT(out_.Take(alice.address), ElementsAre("LEFT 4 bob leave"));
  EXPECT_THAT(out_.Take(bob.address), ElementsAre("LEFT 4 bob leave"));

  const InetAddress carol_address = Local(4);
  const std::string cookie = Cookie(carol_address);
  Send(carol_address, absl::StrCat("JOIN carol ", cookie));
  std::vector<std::string> to_carol = out_.Take(carol_address);
  ASSERT_THAT(to_carol, SizeIs(2));
  EXPECT_EQ(to_carol[1], "JOINED 5 carol");
  EXPECT_THAT(out_.Take(alice.address), ElementsAre("JOINED 5 carol"));
  EXPECT_THAT(out_.Take(bob.address), IsEmpty()) << "bob has left";

  Send(alice.address, absl::StrCat("MSG ", alice.key, " \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_THAT(out_.Take(carol_address),
              ElementsAre("MSG 6 alice \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_EQ(room_->last_sequence(), 6u);
}

TEST_F(ChatRoomTest, ErrorsToMembers) {
  const Member alice = Join("alice", Local(2));
  const Member bob = Join("bob", Local(3));
  const std::string& key = alice.key;
  const InetAddress& at = alice.address;

  EXPECT_THAT(AskOne(at, absl::StrCat("MSG ", key)), ::testing::StartsWith("ERR 400 "));
  EXPECT_THAT(AskOne(at, absl::StrCat("MSG ", key, " ")), ::testing::StartsWith("ERR 400 "));
  for (absl::string_view bad_utf8 : {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "abc\xE2\x82"}) {
    EXPECT_THAT(AskOne(at, absl::StrCat("MSG ", key, " ", bad_utf8)),
                ::testing::StartsWith("ERR 400 "))
        << absl::CHexEscape(bad_utf8);
  }
  EXPECT_THAT(AskOne(at, absl::StrCat("HISTORY ", key)), ::testing::StartsWith("ERR 400 "));
  EXPECT_THAT(AskOne(at, absl::StrCat("HISTORY ", key, " -1")), ::testing::StartsWith("ERR 400 "));
  EXPECT_THAT(AskOne(at, absl::StrCat("HISTORY ", key, " x")), ::testing::StartsWith("ERR 400 "));

  // Bad keys: wrong, another member's, cut, missing.
  std::string wrong = key;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  for (const std::string& bad_key :
       {wrong, bob.key, key.substr(0, 21), key + "A", std::string(), std::string(22, 'A')}) {
    EXPECT_EQ(AskOne(at, absl::StrCat("MSG ", bad_key, " hi")), "ERR 403 bad key")
        << "'" << bad_key << "'";
    EXPECT_EQ(AskOne(at, absl::StrCat("PING ", bad_key)), "ERR 403 bad key")
        << "'" << bad_key << "'";
  }
  EXPECT_EQ(AskOne(at, "MSG"), "ERR 403 bad key");

  for (absl::string_view unknown : {"DANCE", "msg", "JOINX", "PINGS", ""}) {
    EXPECT_EQ(AskOne(at, absl::StrCat(unknown, " ", key)), "ERR 500 unknown command") << unknown;
  }
  EXPECT_EQ(AskOne(at, ""), "ERR 500 unknown command");

  // Nothing of that was broadcast.
  EXPECT_THAT(out_.Take(bob.address), IsEmpty());
  EXPECT_EQ(out_.size(), 0u);
  EXPECT_EQ(room_->last_sequence(), 2u);
}

TEST_F(ChatRoomTest, TooLarge) {
  const Member alice = Join("alice", Local(2));
  // Over 1200 bytes, whole or cut on receipt.
  EXPECT_EQ(AskOne(alice.address, std::string(1201, 'x')), "ERR 413 too large");
  const std::string big = absl::StrCat("MSG ", alice.key, " ", std::string(1300, 'x'));
  EXPECT_EQ(AskOne(alice.address, big), "ERR 413 too large");
  room_->OnDatagram(alice.address, absl::string_view(big).substr(0, 100), big.size(), now_);
  EXPECT_THAT(out_.Take(alice.address), ElementsAre("ERR 413 too large"));

  // A 1200-byte MSG whose broadcast fits: fine.
  const std::string prefix = absl::StrCat("MSG ", alice.key, " ");
  const std::string largest = prefix + std::string(1200 - prefix.size(), 'y');
  ASSERT_EQ(largest.size(), 1200u);
  std::vector<std::string> echoed = Ask(alice.address, largest);
  ASSERT_THAT(echoed, SizeIs(1));
  EXPECT_EQ(echoed[0], absl::StrCat("MSG 2 alice ", std::string(1200 - prefix.size(), 'y')));
  EXPECT_EQ(room_->last_sequence(), 2u);
}

TEST_F(ChatRoomTest, MessageWhoseBroadcastWouldNotFit) {
  // A long nick in bytes (32 four-byte characters) makes the broadcast
  // longer than the request.
  std::string nick;
  for (int i = 0; i < 32; ++i) nick += "\xF0\x9F\x98\x80";
  const Member big = Join(nick, Local(2));
  const Member bob = Join("bob", Local(3));
  const std::string head = absl::StrCat("MSG ", room_->last_sequence() + 1, " ", nick, " ");
  const size_t fits = kMaxChatDatagram - head.size();
  ASSERT_LE(4 + 22 + 1 + fits + 1, kMaxChatDatagram) << "the request itself must fit";

  EXPECT_EQ(AskOne(big.address, absl::StrCat("MSG ", big.key, " ", std::string(fits + 1, 'z'))),
            "ERR 413 too large");
  EXPECT_THAT(out_.Take(bob.address), IsEmpty());
  EXPECT_EQ(room_->last_sequence(), 2u);

  Send(big.address, absl::StrCat("MSG ", big.key, " ", std::string(fits, 'z')));
  std::vector<std::string> at_bob = out_.Take(bob.address);
  ASSERT_THAT(at_bob, SizeIs(1));
  EXPECT_EQ(at_bob[0].size(), kMaxChatDatagram);
  EXPECT_EQ(at_bob[0], head + std::string(fits, 'z'));
  EXPECT_THAT(out_.Take(big.address), ElementsAre(at_bob[0]));
}

TEST_F(ChatRoomTest, WhoSplitsABigRoom) {
  std::vector<Member> members;
  absl::flat_hash_set<std::string> nicks;
  for (int i = 0; i < 300; ++i) {
    std::string nick = absl::StrCat("member-", i, "-");
    nick.resize(kMaxNickChars, 'n');
    members.push_back(Join(nick, Local(2 + i % 200, static_cast<uint16_t>(40000 + i))));
    nicks.insert(nick);
  }
  ASSERT_EQ(room_->member_count(), 300u);
  std::vector<std::string> replies = Ask(members[7].address, absl::StrCat("WHO ", members[7].key));
  ASSERT_GE(replies.size(), 3u);
  EXPECT_EQ(replies.back(), "END WHO");
  absl::flat_hash_set<std::string> listed;
  size_t listed_count = 0;
  for (size_t i = 0; i + 1 < replies.size(); ++i) {
    EXPECT_LE(replies[i].size(), kMaxChatDatagram);
    std::vector<std::string> words = absl::StrSplit(replies[i], ' ');
    ASSERT_GE(words.size(), 2u) << replies[i];
    EXPECT_EQ(words[0], "MEMBERS");
    for (size_t w = 1; w < words.size(); ++w) {
      listed.insert(words[w]);
      ++listed_count;
    }
  }
  EXPECT_GE(replies.size(), 1 + (300 * 33) / 1200) << "several datagrams";
  EXPECT_EQ(listed_count, 300u) << "every nick exactly once";
  EXPECT_EQ(listed, nicks);
  EXPECT_EQ(out_.size(), 0u) << "only the asker hears";

  // A room of one.
  MakeRoom(ChatOptions());
  const Member alone = Join("alone", Local(2));
  EXPECT_THAT(Ask(alone.address, absl::StrCat("WHO ", alone.key)),
              ElementsAre("MEMBERS alone", "END WHO"));
  EXPECT_THAT(AskOne(alone.address, absl::StrCat("WHO ", alone.key, " extra")),
              ::testing::StartsWith("ERR 400 "));
}

TEST_F(ChatRoomTest, PingPong) {
  const Member alice = Join("alice", Local(2));
  const Member bob = Join("bob", Local(3));
  EXPECT_EQ(AskOne(alice.address, absl::StrCat("PING ", alice.key)), "PONG");
  EXPECT_THAT(out_.Take(bob.address), IsEmpty());
  EXPECT_THAT(AskOne(alice.address, absl::StrCat("PING ", alice.key, " x")),
              ::testing::StartsWith("ERR 400 "));
}

TEST_F(ChatRoomTest, HistoryFromASequence) {
  const Member alice = Join("alice", Local(2));                    // 1
  const Member bob = Join("bob", Local(3));                        // 2
  Send(alice.address, absl::StrCat("MSG ", alice.key, " one"));    // 3
  Send(bob.address, absl::StrCat("MSG ", bob.key, " two words"));  // 4
  Send(bob.address, absl::StrCat("LEAVE ", bob.key));              // 5
  out_.Clear();
  EXPECT_THAT(
      Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 3")),
      ElementsAre("MSG 3 alice one", "MSG 4 bob two words", "LEFT 5 bob leave", "END HISTORY"));
  EXPECT_THAT(Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 0")),
              ElementsAre("JOINED 1 alice", "JOINED 2 bob", "MSG 3 alice one",
                          "MSG 4 bob two words", "LEFT 5 bob leave", "END HISTORY"));
  EXPECT_THAT(Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 5")),
              ElementsAre("LEFT 5 bob leave", "END HISTORY"));
  EXPECT_THAT(Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 6")),
              ElementsAre("END HISTORY"));
  EXPECT_THAT(Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 18446744073709551615")),
              ElementsAre("END HISTORY"));
  EXPECT_EQ(out_.size(), 0u);
}

TEST_F(ChatRoomTest, HistoryKeepsTheLastThousand) {
  const Member alice = Join("alice", Local(2));  // JOINED 1
  for (int i = 0; i < 1100; ++i) {               // MSG 2 .. 1101
    now_ += absl::Milliseconds(50);              // the rate: 20 a second
    Send(alice.address, absl::StrCat("MSG ", alice.key, " m", i));
  }
  std::vector<std::string> echoed = out_.Take(alice.address);
  ASSERT_EQ(echoed.size(), 1100u);
  EXPECT_EQ(echoed.back(), "MSG 1101 alice m1099");
  ASSERT_EQ(room_->last_sequence(), 1101u);

  now_ += absl::Seconds(1);
  std::vector<std::string> history = Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 0"));
  ASSERT_EQ(history.size(), 1001u);
  EXPECT_EQ(history.back(), "END HISTORY");
  for (size_t i = 0; i < 1000; ++i) {
    // Sequences 102 .. 1101, i.e. messages m100 .. m1099, as first sent.
    ASSERT_EQ(history[i], absl::StrCat("MSG ", 102 + i, " alice m", 100 + i)) << i;
    ASSERT_EQ(history[i], echoed[100 + i]);
  }
  now_ += absl::Seconds(1);
  std::vector<std::string> tail = Ask(alice.address, absl::StrCat("HISTORY ", alice.key, " 1090"));
  ASSERT_EQ(tail.size(), 13u);
  EXPECT_EQ(tail.front(), "MSG 1090 alice m1088");
  EXPECT_EQ(tail[11], "MSG 1101 alice m1099");
}

TEST_F(ChatRoomTest, LeaveMakesAStrangerAndFreesTheNick) {
  const Member alice = Join("alice", Local(2));
  const Member bob = Join("bob", Local(3));
  Send(alice.address, absl::StrCat("LEAVE ", alice.key));
  EXPECT_THAT(out_.Take(alice.address), ElementsAre("LEFT 3 alice leave"));
  EXPECT_THAT(out_.Take(bob.address), ElementsAre("LEFT 3 alice leave"));
  EXPECT_EQ(room_->member_count(), 1u);

  // A stranger again: silence, even with the old key.
  for (const std::string& probe :
       {absl::StrCat("PING ", alice.key), absl::StrCat("MSG ", alice.key, " hi"),
        absl::StrCat("LEAVE ", alice.key), std::string("DANCE")}) {
    Send(alice.address, probe);
    EXPECT_EQ(out_.size(), 0u) << probe;
  }
  // The nick is free, for someone else.
  const Member other = Join("alice", Local(4));
  EXPECT_EQ(room_->member_count(), 2u);
  // And the old address may join again, under another nick.
  const Member again = Join("alice-again", alice.address);
  EXPECT_NE(again.key, alice.key);
  EXPECT_EQ(room_->member_count(), 3u);
  EXPECT_THAT(AskOne(bob.address, absl::StrCat("LEAVE ", bob.key, " now")),
              ::testing::StartsWith("ERR 400 "));
}

TEST_F(ChatRoomTest, BroadcastsReachExactlyTheMembersAfterChurn) {
  std::vector<Member> members;
  for (int i = 0; i < 12; ++i) members.push_back(Join(absl::StrCat("m", i), Local(2 + i)));
  absl::flat_hash_set<int> present;
  for (int i = 0; i < 12; ++i) present.insert(i);
  // Leave from the middle, the end and the start, rejoin one.
  for (int gone : {5, 11, 0, 6, 7}) {
    Send(members[gone].address, absl::StrCat("LEAVE ", members[gone].key));
    present.erase(gone);
  }
  out_.Clear();
  members[5] = Join("m5-again", members[5].address);
  present.insert(5);
  out_.Clear();
  Send(members[3].address, absl::StrCat("MSG ", members[3].key, " after churn"));
  const std::string expected = absl::StrCat("MSG ", room_->last_sequence(), " m3 after churn");
  for (int i = 0; i < 12; ++i) {
    if (present.contains(i)) {
      EXPECT_THAT(out_.Take(members[i].address), ElementsAre(expected)) << i;
    } else {
      EXPECT_THAT(out_.Take(members[i].address), IsEmpty()) << i;
    }
  }
  EXPECT_EQ(out_.size(), 0u);
  EXPECT_EQ(room_->member_count(), present.size());
  // WHO agrees.
  std::vector<std::string> who = Ask(members[3].address, absl::StrCat("WHO ", members[3].key));
  ASSERT_THAT(who, SizeIs(2));
  std::vector<std::string> listed = absl::StrSplit(who[0], ' ');
  EXPECT_EQ(listed.size(), 1 + present.size());
}

TEST_F(ChatRoomTest, IdleMembersTimeOut) {
  const Member alice = Join("alice", Local(2));
  const Member bob = Join("bob", Local(3));
  const Member carol = Join("carol", Local(4));
  const absl::Time joined = now_;
  now_ = joined + absl::Seconds(30);
  EXPECT_EQ(AskOne(bob.address, absl::StrCat("PING ", bob.key)), "PONG");
  // Nothing valid from carol: a bad key, an unknown command.
  EXPECT_EQ(AskOne(carol.address, "PING wrong"), "ERR 403 bad key");
  EXPECT_EQ(AskOne(carol.address, "DANCE"), "ERR 500 unknown command");

  room_->ExpireIdleMembers(joined + absl::Seconds(59));
  EXPECT_EQ(out_.size(), 0u);
  EXPECT_EQ(room_->member_count(), 3u);

  room_->ExpireIdleMembers(joined + absl::Seconds(61));
  EXPECT_EQ(room_->member_count(), 1u);
  std::vector<std::string> at_bob = out_.Take(bob.address);
  ASSERT_THAT(at_bob, SizeIs(2));
  // One number each, in whichever order the sweep found them.
  EXPECT_THAT(at_bob[0], MatchesRegex("LEFT 4 (alice|carol) timeout"));
  EXPECT_THAT(at_bob[1], MatchesRegex("LEFT 5 (alice|carol) timeout"));
  EXPECT_NE(at_bob[0].substr(7), at_bob[1].substr(7));
  // Neither hears of its own going; one of them, dropped in the same sweep
  // after the other, may have heard of the other's.
  const std::vector<std::string> at_alice = out_.Take(alice.address);
  const std::vector<std::string> at_carol = out_.Take(carol.address);
  EXPECT_THAT(at_alice, ::testing::Each(::testing::Not(::testing::HasSubstr("alice"))));
  EXPECT_THAT(at_carol, ::testing::Each(::testing::Not(::testing::HasSubstr("carol"))));
  EXPECT_LE(at_alice.size() + at_carol.size(), 1u);
  EXPECT_EQ(out_.size(), 0u);

  // Gone: a stranger again.
  now_ = joined + absl::Seconds(62);
  Send(alice.address, absl::StrCat("PING ", alice.key));
  EXPECT_EQ(out_.size(), 0u);

  // Bob keeps himself in with PINGs.
  for (int i = 1; i <= 5; ++i) {
    now_ = joined + absl::Seconds(30 + 50 * i);
    room_->ExpireIdleMembers(now_);
    EXPECT_EQ(AskOne(bob.address, absl::StrCat("PING ", bob.key)), "PONG");
  }
  EXPECT_EQ(room_->member_count(), 1u);
  room_->ExpireIdleMembers(now_ + absl::Seconds(61));
  EXPECT_EQ(room_->member_count(), 0u);
  EXPECT_EQ(out_.size(), 0u) << "nobody left to tell";
}

TEST_F(ChatRoomTest, RateLimit) {
  ChatOptions options;
  options.rate = 20;
  options.burst = 10;
  MakeRoom(options);
  const Member alice = Join("alice", Local(2));
  const Member bob = Join("bob", Local(3));
  const std::string ping = absl::StrCat("PING ", alice.key);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(AskOne(alice.address, ping), "PONG") << i;
  EXPECT_EQ(AskOne(alice.address, ping), "ERR 429 slow down");
  EXPECT_EQ(AskOne(alice.address, absl::StrCat("MSG ", alice.key, " hi")), "ERR 429 slow down");
  EXPECT_THAT(out_.Take(bob.address), IsEmpty());
  // Bob has his own bucket.
  EXPECT_EQ(AskOne(bob.address, absl::StrCat("PING ", bob.key)), "PONG");

  now_ += absl::Seconds(1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(AskOne(alice.address, ping), "PONG") << i;
  EXPECT_EQ(AskOne(alice.address, ping), "ERR 429 slow down");
  // 20 a second: one more every 50 ms.
  now_ += absl::Milliseconds(50);
  EXPECT_EQ(AskOne(alice.address, ping), "PONG");
  EXPECT_EQ(AskOne(alice.address, ping), "ERR 429 slow down");
}

TEST_F(ChatRoomTest, TrailingNewlineIsDropped) {
  const InetAddress alice_address = Local(2);
  std::vector<std::string> cookie = Ask(alice_address, "JOIN alice\n");
  ASSERT_THAT(cookie, SizeIs(1));
  ASSERT_THAT(cookie[0], MatchesRegex("COOKIE [A-Za-z0-9_-]{11}"));
  std::vector<std::string> joined =
      Ask(alice_address, absl::StrCat("JOIN alice ", cookie[0].substr(7), "\r\n"));
  ASSERT_THAT(joined, SizeIs(2));
  EXPECT_EQ(joined[1], "JOINED 1 alice");
  const std::string key = joined[0].substr(3, 22);
  EXPECT_EQ(AskOne(alice_address, absl::StrCat("PING ", key, "\n")), "PONG");
  EXPECT_EQ(AskOne(alice_address, absl::StrCat("PING ", key, "\r\n")), "PONG");
  EXPECT_EQ(AskOne(alice_address, absl::StrCat("MSG ", key, " hi there\r\n")),
            "MSG 2 alice hi there");
  EXPECT_EQ(AskOne(alice_address, absl::StrCat("MSG ", key, " bye\n")), "MSG 3 alice bye");
  EXPECT_THAT(AskOne(alice_address, absl::StrCat("MSG ", key, "\r\n")),
              ::testing::StartsWith("ERR 400 "));
}

TEST_F(ChatRoomTest, MappedIpv4IsTheSameMember) {
  const InetAddress plain = Local(5, 41000);
  const InetAddress mapped = Address("::ffff:127.0.0.5", 41000);
  // Cookie over IPv4, join over mapped IPv6.
  const std::string cookie = Cookie(plain);
  Send(mapped, absl::StrCat("JOIN alice ", cookie));
  std::vector<std::string> joined = out_.Take(mapped);
  ASSERT_THAT(joined, SizeIs(2));
  const std::string key = joined[0].substr(3, 22);
  EXPECT_EQ(room_->member_count(), 1u);
  // Commands from either form are alice's.
  EXPECT_EQ(AskOne(plain, absl::StrCat("PING ", key)), "PONG");
  EXPECT_EQ(AskOne(mapped, absl::StrCat("PING ", key)), "PONG");
  // Another port of the same address is not.
  Send(Address("::ffff:127.0.0.5", 41001), absl::StrCat("PING ", key));
  EXPECT_EQ(out_.size(), 0u);
  // One member: joining again from the other form is refused.
  EXPECT_THAT(AskOne(plain, absl::StrCat("JOIN bob ", cookie)), ::testing::StartsWith("ERR 409"));
  EXPECT_EQ(room_->member_count(), 1u);
  Send(plain, absl::StrCat("LEAVE ", key));
  EXPECT_THAT(out_.Take(mapped), ElementsAre("LEFT 2 alice leave"));
  EXPECT_EQ(room_->member_count(), 0u);
}

}  // namespace
}  // namespace switchboard
