// Copyright Switchboard authors.
//
// End-to-end: two chat clients (//clients:chat) in the room of the real
// server, fed through pipes: each sees the other's messages, /who lists
// both, end of input leaves; a nick taken ends the second client with an
// error; no server means a clear message and status 1.

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

std::string ChatPath() { return RunfilePath("clients/chat"); }

class ChatClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IgnoreSigpipe();
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({"chat"}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
  }

  absl::StatusOr<ChildProcess> Chat(const std::string& nick, const std::string& from) {
    return ChildProcess::Start({ChatPath(), "--host=127.0.0.1",
                                absl::StrCat("--port=", server_->port("chat")), "--bind=" + from,
                                "--nick=" + nick});
  }

  std::optional<ServerProcess> server_;
};

TEST_F(ChatClientTest, TwoMembersTalk) {
  absl::StatusOr<ChildProcess> ann = Chat("ann", "127.0.0.2");
  ASSERT_TRUE(ann.ok()) << ann.status();
  EXPECT_THAT(ann->ReadUntil("* ann joined", kTimeout), HasSubstr("* ann joined"));
  absl::StatusOr<ChildProcess> bob = Chat("bob", "127.0.0.3");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_THAT(bob->ReadUntil("* bob joined", kTimeout), HasSubstr("2 member(s)"));
  EXPECT_THAT(ann->ReadUntil("* bob joined", kTimeout), HasSubstr("* bob joined"));

  ASSERT_TRUE(ann->WriteStdin("hello bob\n").ok());
  EXPECT_THAT(bob->ReadUntil("<ann> hello bob", kTimeout), HasSubstr("<ann> hello bob"));
  ASSERT_TRUE(bob->WriteStdin("/who\n").ok());
  absl::StatusOr<std::string> who = bob->ReadLine(kTimeout);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_THAT(*who, ::testing::AnyOf("* here: ann, bob", "* here: bob, ann"));

  bob->CloseStdin();  // end of input leaves the room
  EXPECT_EQ(bob->Wait(kTimeout), 0);
  EXPECT_THAT(ann->ReadUntil("* bob left", kTimeout), HasSubstr("* bob left"));
  ann->CloseStdin();
  EXPECT_EQ(ann->Wait(kTimeout), 0);
}

TEST_F(ChatClientTest, ATakenNickEndsTheSecondClient) {
  absl::StatusOr<ChildProcess> first = Chat("dup", "127.0.0.4");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->ReadUntil("* dup joined", kTimeout), HasSubstr("* dup joined"));
  absl::StatusOr<ChildProcess> second = Chat("dup", "127.0.0.5");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->ReadAll(kTimeout), HasSubstr("ERR 409 nick taken"));
  EXPECT_EQ(second->Wait(kTimeout), 1);
  first->CloseStdin();
  EXPECT_EQ(first->Wait(kTimeout), 0);
}

TEST_F(ChatClientTest, LogsItsOwnEventsToStderrWithoutSecrets) {
  absl::StatusOr<ChildProcess> ann = Chat("ann", "127.0.0.6");
  ASSERT_TRUE(ann.ok()) << ann.status();
  EXPECT_THAT(ann->ReadUntil("* ann joined", kTimeout), HasSubstr("* ann joined"));
  ASSERT_TRUE(ann->WriteStdin("hi\n").ok());
  EXPECT_THAT(ann->ReadUntil("<ann> hi", kTimeout), HasSubstr("<ann> hi"));
  ann->CloseStdin();
  EXPECT_EQ(ann->Wait(kTimeout), 0);
  const std::string log = ann->Stderr();
  for (const char* event : {"sent JOIN (8 bytes)", "received COOKIE (18 bytes)", "received OK",
                            "joined the room at 127.0.0.1:", "sent MSG", "received MSG",
                            "sent LEAVE", "received LEFT", "left the room"}) {
    EXPECT_THAT(log, HasSubstr(event)) << log;
  }
  EXPECT_LT(log.find("joined the room"), log.find("sent MSG"));
  EXPECT_LT(log.find("sent LEAVE"), log.find("left the room"));
}

TEST_F(ChatClientTest, AtATerminalAsksForHostPortAndNick) {
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> chat = ChildProcess::Start({ChatPath()}, options);
  ASSERT_TRUE(chat.ok()) << chat.status();
  OutputReader screen(&*chat);
  ASSERT_TRUE(screen.WaitFor("Host [127.0.0.1]: ")) << screen.all() << chat->Stderr();
  ASSERT_TRUE(chat->WriteStdin("\n").ok());
  ASSERT_TRUE(screen.WaitFor("Port [7010]: ")) << screen.all();
  ASSERT_TRUE(chat->WriteStdin(absl::StrCat(server_->port("chat"), "\n")).ok());
  ASSERT_TRUE(screen.WaitFor("nick: ")) << screen.all();
  ASSERT_TRUE(chat->WriteStdin("tty\n").ok());
  ASSERT_TRUE(screen.WaitFor("* tty joined")) << screen.all() << chat->Stderr();
  ASSERT_TRUE(chat->WriteStdin("/quit\n").ok());
  EXPECT_EQ(chat->Wait(kTimeout), 0) << chat->Stderr();
}

TEST(ChatClientNoServerTest, NoAnswerSaysSoAndFails) {
  absl::StatusOr<ChildProcess> chat = ChildProcess::Start(
      {ChatPath(), "--host=127.0.0.1", "--port=9", "--nick=lonely", "--join_timeout=1s"});
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->Wait(kTimeout), 1);
  EXPECT_THAT(chat->Stderr(), HasSubstr("no answer from the server"));
}

}  // namespace
}  // namespace switchboard::testing
