// Copyright Switchboard authors.
//
// The identity service's dialogue through real connections to an
// in-process server on a real SQLite file: strangers, names, renames,
// FORGET, exit, bad names and bad input, IPv4 addresses as keys, and
// length framing.

#include "services/identity/identity_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::InProcessServer;
using ::testing::StartsWith;
using testing::TempPath;
using testing::TextClient;

constexpr absl::string_view kQuestion = "300 Hello, stranger. What is your name?";

ServerConfig IdentityConfig(const std::string& data_dir, Framing framing = Framing::kLine) {
  ServerConfig config;
  config.services = {"identity"};
  config.ports = {{"identity", 0}};
  config.framings = {{"identity", framing}};
  config.data_dir = data_dir;
  config.workers = 2;
  return config;
}

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = TempPath("identity");
    server_ = std::make_unique<InProcessServer>(IdentityConfig(data_dir_));
    ASSERT_TRUE(server_->ok()) << server_->status();
  }

  TextClient Connect(absl::string_view from) {
    absl::StatusOr<TextClient> client = TextClient::Connect(server_->port("identity"), from);
    CHECK(client.ok()) << client.status();
    return *std::move(client);
  }

  void Restart() {
    server_.reset();
    server_ = std::make_unique<InProcessServer>(IdentityConfig(data_dir_));
    ASSERT_TRUE(server_->ok()) << server_->status();
  }

  std::string data_dir_;
  std::unique_ptr<InProcessServer> server_;
};

TEST_F(IdentityServiceTest, StrangerIsAskedThenKnownByAddress) {
  TextClient first = Connect("127.0.4.1");
  EXPECT_EQ(first.Next(), kQuestion);
  EXPECT_EQ(first.Ask("Alice"), "201 Nice to meet you, Alice!");
  EXPECT_EQ(first.Ask("exit"), "221 Bye, Alice.");
  EXPECT_TRUE(first.ClosedByServer());

  TextClient again = Connect("127.0.4.1");
  EXPECT_EQ(again.Next(), "200 Hello, Alice!");
  TextClient other = Connect("127.0.4.2");
  EXPECT_EQ(other.Next(), kQuestion);
}

TEST_F(IdentityServiceTest, BadNamesGet400AndTheQuestionAgain) {
  TextClient client = Connect("127.0.4.3");
  ASSERT_EQ(client.Next(), kQuestion);
  for (const std::string& bad :
       {std::string(), std::string(65, 'x'), std::string("bell\x07"), std::string("tab\there"),
        std::string("\xC2\x85next-line"), std::string("\xFF\xFE")}) {
    EXPECT_THAT(client.Ask(bad), StartsWith("400 ")) << "name '" << bad << "'";
    EXPECT_EQ(client.Next(), kQuestion) << "after '" << bad << "'";
  }
  // 64 bytes of UTF-8 is the longest allowed: 32 two-byte characters.
  std::string longest;
  for (int i = 0; i < 32; ++i) longest += "\xC3\xA9";  // é
  EXPECT_EQ(client.Ask(longest), absl::StrCat("201 Nice to meet you, ", longest, "!"));
}

TEST_F(IdentityServiceTest, NameWithSpacesAndUnicodeIsKeptVerbatim) {
  TextClient client = Connect("127.0.4.4");
  ASSERT_EQ(client.Next(), kQuestion);
  EXPECT_EQ(client.Ask("Zo\xC3\xAB O'Brien; DROP TABLE identities"),
            "201 Nice to meet you, Zo\xC3\xAB O'Brien; DROP TABLE identities!");
  TextClient again = Connect("127.0.4.4");
  EXPECT_EQ(again.Next(), "200 Hello, Zo\xC3\xAB O'Brien; DROP TABLE identities!");
}

TEST_F(IdentityServiceTest, RenameForgetAndUnknownCommands) {
  TextClient client = Connect("127.0.4.5");
  ASSERT_EQ(client.Next(), kQuestion);
  ASSERT_EQ(client.Ask("Bob"), "201 Nice to meet you, Bob!");
  EXPECT_EQ(client.Ask("NAME Robert the Bruce"), "200 Renamed to Robert the Bruce.");
  EXPECT_THAT(client.Ask("NAME "), StartsWith("400 "));
  EXPECT_THAT(client.Ask("NAME"), StartsWith("400 usage"));
  EXPECT_THAT(client.Ask(absl::StrCat("NAME ", std::string(65, 'y'))), StartsWith("400 "));
  EXPECT_EQ(client.Ask("FLY AWAY"), "500 unknown command");
  EXPECT_EQ(client.Ask("name lower"), "500 unknown command") << "commands are case-sensitive";
  EXPECT_EQ(client.Ask(""), "500 unknown command");
  EXPECT_EQ(client.Ask("FORGET"), "200 Forgot Robert the Bruce.");
  // A stranger again: the next message is the name.
  EXPECT_EQ(client.Ask("Roberta"), "201 Nice to meet you, Roberta!");
  EXPECT_EQ(client.Ask("FORGET"), "200 Forgot Roberta.");
  EXPECT_EQ(client.Ask("exit"), "221 Bye, stranger.");
  EXPECT_TRUE(client.ClosedByServer());
  TextClient again = Connect("127.0.4.5");
  EXPECT_EQ(again.Next(), kQuestion);
}

TEST_F(IdentityServiceTest, ExitAtTheQuestionSaysByeStranger) {
  TextClient client = Connect("127.0.4.6");
  ASSERT_EQ(client.Next(), kQuestion);
  EXPECT_EQ(client.Ask("exit"), "221 Bye, stranger.");
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(IdentityServiceTest, OverlongLineGets400AndClose) {
  TextClient client = Connect("127.0.4.7");
  ASSERT_EQ(client.Next(), kQuestion);
  client.SendRaw(std::string(5000, 'z') + "\n");
  EXPECT_EQ(client.Next(), "400 line too long");
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(IdentityServiceTest, NamesSurviveARestart) {
  {
    TextClient client = Connect("127.0.4.8");
    ASSERT_EQ(client.Next(), kQuestion);
    ASSERT_EQ(client.Ask("Carol"), "201 Nice to meet you, Carol!");
  }
  Restart();
  TextClient client = Connect("127.0.4.8");
  EXPECT_EQ(client.Next(), "200 Hello, Carol!");
}

TEST_F(IdentityServiceTest, ManyClientsAtOnceEachGetTheirOwnName) {
  constexpr int kClients = 40;
  std::vector<TextClient> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Connect(absl::StrCat("127.0.5.", i + 1)));
  }
  for (TextClient& client : clients) ASSERT_EQ(client.Next(), kQuestion);
  for (int i = 0; i < kClients; ++i) clients[i].Send(absl::StrCat("Member ", i));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(clients[i].Next(), absl::StrCat("201 Nice to meet you, Member ", i, "!"));
  }
  for (int i = 0; i < kClients; ++i) {
    TextClient again = Connect(absl::StrCat("127.0.5.", i + 1));
    EXPECT_EQ(again.Next(), absl::StrCat("200 Hello, Member ", i, "!"));
  }
}

TEST(IdentityServiceLengthFramingTest, FramesWorkAndNonUtf8Gets400) {
  InProcessServer server(IdentityConfig(TempPath("identity-length"), Framing::kLength));
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<TextClient> client =
      TextClient::Connect(server.port("identity"), "127.0.4.9", Framing::kLength);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Next(), kQuestion);
  EXPECT_THAT(client->Ask("\xC3\x28"), StartsWith("400 "));
  EXPECT_EQ(client->Next(), kQuestion);
  EXPECT_THAT(client->Ask(std::string("nul\0inside", 10)), StartsWith("400 "));
  EXPECT_EQ(client->Next(), kQuestion);
  EXPECT_EQ(client->Ask("Frame Dan"), "201 Nice to meet you, Frame Dan!");
  EXPECT_THAT(client->Ask("\xC3\x28"), StartsWith("400 "));
  EXPECT_EQ(client->Ask("exit"), "221 Bye, Frame Dan.");
}

TEST(IdentityServiceIpv6Test, MappedIpv4CountsAsIpv4) {
  // A dual-stack listener sees 127.0.4.10 as ::ffff:127.0.4.10; the name
  // stored through it must greet the same address over plain IPv4.
  const std::string data_dir = TempPath("identity-v6");
  ServerConfig config = IdentityConfig(data_dir);
  config.host = "::";
  {
    InProcessServer server(config);
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<TextClient> client = TextClient::Connect(server.port("identity"), "127.0.4.10");
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_EQ(client->Next(), kQuestion);
    ASSERT_EQ(client->Ask("Mapped May"), "201 Nice to meet you, Mapped May!");
  }
  InProcessServer server(IdentityConfig(data_dir));
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<TextClient> client = TextClient::Connect(server.port("identity"), "127.0.4.10");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Next(), "200 Hello, Mapped May!");
}

TEST(IdentityServiceIpv6Test, Ipv6ClientIsKnownByItsIpv6Address) {
  const std::string data_dir = TempPath("identity-v6-native");
  ServerConfig config = IdentityConfig(data_dir);
  config.host = "::";
  InProcessServer server(config);
  ASSERT_TRUE(server.ok()) << server.status();
  {
    absl::StatusOr<TextClient> client = TextClient::Connect(server.port("identity"), "::1");
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_EQ(client->Next(), kQuestion);
    ASSERT_EQ(client->Ask("Six"), "201 Nice to meet you, Six!");
  }
  absl::StatusOr<TextClient> again = TextClient::Connect(server.port("identity"), "::1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->Next(), "200 Hello, Six!");
  // ::1 and 127.0.0.1 are different clients.
  absl::StatusOr<TextClient> v4 = TextClient::Connect(server.port("identity"), "127.0.0.1");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->Next(), kQuestion);
}

}  // namespace
}  // namespace switchboard
