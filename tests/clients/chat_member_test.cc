// Copyright Switchboard authors.
//
// ChatMember, the chat client's protocol logic: joining, what a person sees
// for each broadcast, gaps noticed and filled through HISTORY, late and
// duplicate datagrams, and the typed commands.

#include "clients/chat_member.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kKey[] = "AAAAAAAAAAAAAAAAAAAAAA";

ChatMember Joined() {
  ChatMember member("ann");
  member.OnDatagram("COOKIE abcdefghijk");
  member.OnDatagram(std::string("OK ") + kKey + " 1");
  return member;
}

TEST(ChatMemberTest, JoinsInTwoSteps) {
  ChatMember member("ann");
  EXPECT_EQ(member.JoinRequest(), "JOIN ann");
  ChatMember::Event cookie = member.OnDatagram("COOKIE abcdefghijk");
  EXPECT_THAT(cookie.send, ElementsAre("JOIN ann abcdefghijk"));
  EXPECT_FALSE(member.joined());
  ChatMember::Event ok = member.OnDatagram(std::string("OK ") + kKey + " 3");
  EXPECT_TRUE(member.joined());
  EXPECT_EQ(member.key(), kKey);
  ASSERT_EQ(ok.show.size(), 1u);
  EXPECT_THAT(ok.show[0], HasSubstr("3 member(s)"));
  EXPECT_EQ(member.Ping(), std::string("PING ") + kKey);
}

TEST(ChatMemberTest, AnErrorWhileJoiningIsARefusal) {
  ChatMember member("ann");
  member.OnDatagram("COOKIE abcdefghijk");
  ChatMember::Event taken = member.OnDatagram("ERR 409 nick taken");
  EXPECT_TRUE(taken.refused);
  EXPECT_THAT(taken.show, ElementsAre("! ERR 409 nick taken"));
  ChatMember joined = Joined();
  EXPECT_FALSE(joined.OnDatagram("ERR 429 slow down").refused);
}

TEST(ChatMemberTest, ShowsBroadcasts) {
  ChatMember member = Joined();
  EXPECT_THAT(member.OnDatagram("JOINED 1 ann").show, ElementsAre("* ann joined"));
  EXPECT_THAT(member.OnDatagram("MSG 2 bob hello  there").show, ElementsAre("<bob> hello  there"));
  EXPECT_THAT(member.OnDatagram("LEFT 3 bob timeout").show, ElementsAre("* bob timed out"));
  ChatMember::Event leave = member.OnDatagram("LEFT 4 ann leave");
  EXPECT_THAT(leave.show, ElementsAre("* ann left"));
  EXPECT_TRUE(leave.left);
  EXPECT_THAT(member.OnDatagram("PONG").show, IsEmpty());
}

TEST(ChatMemberTest, AGapAsksForHistoryAndLateArrivalsShowOnce) {
  ChatMember member = Joined();
  member.OnDatagram("JOINED 10 ann");
  ChatMember::Event jump = member.OnDatagram("MSG 14 bob four");
  EXPECT_THAT(jump.send, ElementsAre(std::string("HISTORY ") + kKey + " 11"));
  EXPECT_EQ(member.missing(), 3u);
  ASSERT_EQ(jump.show.size(), 2u);
  EXPECT_THAT(jump.show[0], HasSubstr("missed 3"));
  EXPECT_EQ(jump.show[1], "<bob> four");
  // The replay: 11..13 are shown (marked late), 14 again is not.
  EXPECT_THAT(member.OnDatagram("MSG 11 bob one").show, ElementsAre("<bob> one   (late, #11)"));
  EXPECT_THAT(member.OnDatagram("MSG 12 bob two").show, ElementsAre("<bob> two   (late, #12)"));
  EXPECT_THAT(member.OnDatagram("MSG 12 bob two").show, IsEmpty()) << "a duplicate";
  EXPECT_THAT(member.OnDatagram("JOINED 13 cat").show, ElementsAre("* cat joined   (late, #13)"));
  EXPECT_THAT(member.OnDatagram("MSG 14 bob four").show, IsEmpty());
  EXPECT_THAT(member.OnDatagram("END HISTORY").show, IsEmpty());
  EXPECT_EQ(member.missing(), 0u);
  EXPECT_THAT(member.OnDatagram("MSG 15 bob five").send, IsEmpty());
}

TEST(ChatMemberTest, AHugeGapRemembersABoundedNumber) {
  ChatMember member = Joined();
  member.OnDatagram("JOINED 1 ann");
  member.OnDatagram("MSG 1000000 bob far");
  EXPECT_EQ(member.missing(), ChatMember::kMaxMissing);
}

TEST(ChatMemberTest, CollectsWhoAcrossDatagrams) {
  ChatMember member = Joined();
  EXPECT_THAT(member.OnDatagram("MEMBERS ann bob").show, IsEmpty());
  EXPECT_THAT(member.OnDatagram("MEMBERS cat").show, IsEmpty());
  EXPECT_THAT(member.OnDatagram("MEMBERS").show, IsEmpty());
  EXPECT_THAT(member.OnDatagram("END WHO").show, ElementsAre("* here: ann, bob, cat"));
}

TEST(ChatMemberTest, TypedLines) {
  ChatMember member = Joined();
  EXPECT_EQ(member.OnTyped("hello world").send, std::string("MSG ") + kKey + " hello world");
  EXPECT_EQ(member.OnTyped("crlf\r\n").send, std::string("MSG ") + kKey + " crlf");
  EXPECT_EQ(member.OnTyped("/who").send, std::string("WHO ") + kKey);
  ChatMember::Command quit = member.OnTyped("/quit");
  EXPECT_EQ(quit.send, std::string("LEAVE ") + kKey);
  EXPECT_TRUE(quit.quit);
  ChatMember::Command help = member.OnTyped("/help");
  EXPECT_FALSE(help.send.has_value());
  EXPECT_TRUE(help.show.has_value());
  EXPECT_FALSE(member.OnTyped("").send.has_value());
  ChatMember::Command too_long = member.OnTyped(std::string(1200, 'x'));
  EXPECT_FALSE(too_long.send.has_value());
  EXPECT_THAT(*too_long.show, HasSubstr("too long"));
  EXPECT_TRUE(member.OnTyped(std::string(1200 - 27, 'x')).send.has_value())
      << "\"MSG \" + 22-character key + \" \" + text fits in 1200 bytes";
}

TEST(ChatMemberTest, ResetForgetsTheMembership) {
  ChatMember member = Joined();
  member.OnDatagram("JOINED 5 ann");
  member.Reset();
  EXPECT_FALSE(member.joined());
  EXPECT_EQ(member.last_sequence(), 0u);
}

}  // namespace
}  // namespace switchboard
