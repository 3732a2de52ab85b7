// Copyright Switchboard authors.
//
// The auth service's dialogue through real connections to an in-process
// server on a real SQLite file, with a fake clock for session expiry and
// the failure limit (no sleeping).

#include "services/auth/auth_service.h"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/server.h"
#include "services/store/sqlite_store.h"
#include "tests/testing/child_process.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using testing::FakeClock;
using ::testing::HasSubstr;
using testing::InProcessServer;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::TempPath;
using testing::TextClient;

constexpr absl::string_view kGreeting =
    "220 auth ready; REGISTER <user> <password> or LOGIN <user> <password>";
constexpr char kTokenPattern[] = "[A-Za-z0-9_-]{43}";

ServerConfig AuthConfig(const std::string& data_dir, PwhashCost cost = PwhashCost::kMin) {
  ServerConfig config;
  config.services = {"auth"};
  config.ports = {{"auth", 0}};
  config.data_dir = data_dir;
  config.pwhash_cost = cost;
  config.workers = 2;
  // The fake clock drives the server's timers too: the tests move it by
  // hours, which must not close their connections as idle.
  config.idle_timeout = absl::Hours(100000);
  return config;
}

// The token at the end of "...; session <token>".
std::string TokenOf(absl::string_view reply) {
  const size_t at = reply.rfind(' ');
  return at == absl::string_view::npos ? "" : std::string(reply.substr(at + 1));
}

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = TempPath("auth");
    Start();
  }

  void Start(PwhashCost cost = PwhashCost::kMin) {
    server_.reset();
    server_ = std::make_unique<InProcessServer>(AuthConfig(data_dir_, cost), &clock_);
    ASSERT_TRUE(server_->ok()) << server_->status();
  }

  // A connection from `from`, its greeting already read.
  TextClient Connect(absl::string_view from, std::string* greeting = nullptr) {
    absl::StatusOr<TextClient> client = TextClient::Connect(server_->port("auth"), from);
    CHECK(client.ok()) << client.status();
    std::string first = client->Next();
    if (greeting != nullptr) *greeting = first;
    return *std::move(client);
  }

  // Registers `user` from `from` and returns the token.
  std::string Register(absl::string_view user, absl::string_view password, absl::string_view from) {
    TextClient client = Connect(from);
    const std::string reply = client.Ask(absl::StrCat("REGISTER ", user, " ", password));
    EXPECT_THAT(reply,
                MatchesRegex(absl::StrCat("201 registered ", user, "; session ", kTokenPattern)));
    return TokenOf(reply);
  }

  FakeClock clock_;
  std::string data_dir_;
  std::unique_ptr<InProcessServer> server_;
};

TEST_F(AuthServiceTest, RegisterLoginResumeWhoamiLogout) {
  std::string greeting;
  TextClient client = Connect("127.0.6.1", &greeting);
  EXPECT_EQ(greeting, kGreeting);
  const std::string registered = client.Ask("REGISTER alice correct-horse");
  ASSERT_THAT(registered,
              MatchesRegex(absl::StrCat("201 registered alice; session ", kTokenPattern)));
  EXPECT_EQ(client.Ask("REGISTER alice another-one"), "409 user exists");
  EXPECT_EQ(client.Ask("WHOAMI"), "200 alice");

  TextClient second = Connect("127.0.6.2");
  EXPECT_EQ(second.Ask("WHOAMI"), "401 not logged in");
  const std::string login = second.Ask("LOGIN alice correct-horse");
  ASSERT_THAT(login, MatchesRegex(absl::StrCat("200 welcome alice; session ", kTokenPattern)));
  EXPECT_NE(TokenOf(login), TokenOf(registered));

  TextClient third = Connect("127.0.6.3");
  EXPECT_EQ(third.Ask(absl::StrCat("RESUME ", TokenOf(login))), "200 welcome back alice");
  EXPECT_EQ(third.Ask("WHOAMI"), "200 alice");
  EXPECT_EQ(third.Ask("LOGOUT"), "200 logged out");
  EXPECT_EQ(third.Ask("LOGOUT"), "401 not logged in");
  EXPECT_EQ(third.Ask("WHOAMI"), "401 not logged in");
  // The logged-out token is gone; the first one (a login leaves the other
  // sessions valid) still works.
  EXPECT_EQ(third.Ask(absl::StrCat("RESUME ", TokenOf(login))), "401 session unknown or expired");
  EXPECT_EQ(third.Ask(absl::StrCat("RESUME ", TokenOf(registered))), "200 welcome back alice");
  EXPECT_EQ(third.Ask("RESUME " + std::string(43, 'A')), "401 session unknown or expired");
  EXPECT_EQ(third.Ask("exit"), "221 Bye.");
  EXPECT_TRUE(third.ClosedByServer());
}

TEST_F(AuthServiceTest, WrongPasswordAndUnknownUserGetTheSameWords) {
  Register("bob", "bobs-password", "127.0.6.10");
  TextClient client = Connect("127.0.6.11");
  EXPECT_EQ(client.Ask("LOGIN bob not-the-password"), "401 invalid credentials");
  EXPECT_EQ(client.Ask("LOGIN nobody-here whatever1"), "401 invalid credentials");
}

TEST_F(AuthServiceTest, UsageAndValidationErrors) {
  TextClient client = Connect("127.0.6.20");
  EXPECT_EQ(client.Ask("REGISTER alice"), "400 usage: REGISTER <user> <password>");
  EXPECT_EQ(client.Ask("REGISTER alice pass word1"), "400 usage: REGISTER <user> <password>");
  EXPECT_EQ(client.Ask("REGISTER  alice password1"), "400 usage: REGISTER <user> <password>");
  EXPECT_EQ(client.Ask("REGISTER alice password1 "), "400 usage: REGISTER <user> <password>");
  EXPECT_EQ(client.Ask("LOGIN"), "400 usage: LOGIN <user> <password>");
  EXPECT_EQ(client.Ask("LOGIN password1"), "400 usage: LOGIN <user> <password>")
      << "the one-argument form needs an address the store knows";
  EXPECT_EQ(client.Ask("RESUME"), "400 usage: RESUME <token>");
  EXPECT_EQ(client.Ask("WHOAMI now"), "400 usage: WHOAMI");
  EXPECT_EQ(client.Ask("PASSWD a"), "400 usage: PASSWD <old password> <new password>");
  EXPECT_THAT(client.Ask("REGISTER bad!name password1"), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER " + std::string(33, 'u') + " password1"), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER shorty short12"), StartsWith("400 "));  // 7 bytes
  EXPECT_THAT(client.Ask("REGISTER tabby pass\tword1"), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER nbsp pass\xC2\xA0word1"), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER bell pass\x07word1"), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER long " + std::string(257, 'p')), StartsWith("400 "));
  EXPECT_THAT(client.Ask("REGISTER " + std::string(32, 'u') + " " + std::string(256, 'p')),
              StartsWith("201 registered "));
  EXPECT_EQ(client.Ask("DANCE"), "500 unknown command");
  EXPECT_EQ(client.Ask("login alice password1"), "500 unknown command");
  EXPECT_EQ(client.Ask(""), "500 unknown command");
  // The connection is still usable after all of that.
  EXPECT_EQ(client.Ask("WHOAMI"), absl::StrCat("200 ", std::string(32, 'u')));
}

TEST_F(AuthServiceTest, MalformedTokensGet400) {
  TextClient client = Connect("127.0.6.30");
  for (const std::string& bad : {std::string(42, 'A'), std::string(44, 'A'),
                                 std::string(42, 'A') + "+", std::string(42, 'A') + "=",
                                 std::string(42, 'A') + "/", std::string(42, 'A') + "\xC3\xA9"}) {
    EXPECT_THAT(client.Ask("RESUME " + bad), StartsWith("400 ")) << bad;
  }
  EXPECT_EQ(client.Ask("WHOAMI"), "401 not logged in");
}

TEST_F(AuthServiceTest, FiveFailuresLockTheUserFromAnyAddressUntilTheWindowPasses) {
  Register("carol", "carols-password", "127.0.6.40");
  TextClient client = Connect("127.0.6.41");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(client.Ask("LOGIN carol wrong-guess"), "401 invalid credentials") << i;
  }
  EXPECT_EQ(client.Ask("LOGIN carol carols-password"), "429 too many attempts; retry in 900s");
  TextClient elsewhere = Connect("127.0.6.42");
  EXPECT_THAT(elsewhere.Ask("LOGIN carol carols-password"), StartsWith("429 "));
  clock_.Advance(absl::Seconds(899) + absl::Milliseconds(500));
  EXPECT_EQ(elsewhere.Ask("LOGIN carol carols-password"), "429 too many attempts; retry in 1s")
      << "rounded up, and a 429 is not itself counted";
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_THAT(elsewhere.Ask("LOGIN carol carols-password"), StartsWith("200 welcome carol"));
  // Success cleared the count: four more failures do not lock.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(client.Ask("LOGIN carol wrong-guess"), "401 invalid credentials");
  }
  EXPECT_THAT(client.Ask("LOGIN carol carols-password"), StartsWith("200 welcome carol"));
}

TEST_F(AuthServiceTest, FiveFailuresFromOneAddressLockThatAddressOnly) {
  Register("dora", "doras-password", "127.0.6.50");
  TextClient guesser = Connect("127.0.6.51");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(guesser.Ask(absl::StrCat("LOGIN nobody", i, " guess-number-", i)),
              "401 invalid credentials");
  }
  EXPECT_THAT(guesser.Ask("LOGIN dora doras-password"), StartsWith("429 "));
  TextClient honest = Connect("127.0.6.52");
  EXPECT_THAT(honest.Ask("LOGIN dora doras-password"), StartsWith("200 welcome dora"));
}

// REGISTER has a share per address (--max_registrations_per_address per
// 15 minutes): every REGISTER that passes validation counts, a taken name
// included; past it 429, other addresses unaffected, and the share comes
// back as the window moves on.
TEST_F(AuthServiceTest, RegistrationsPerAddressAreLimited) {
  server_.reset();
  ServerConfig config = AuthConfig(data_dir_, PwhashCost::kMin);
  config.max_registrations_per_address = 3;
  server_ = std::make_unique<InProcessServer>(config, &clock_);
  ASSERT_TRUE(server_->ok()) << server_->status();
  Register("reg1", "reg-password", "127.0.7.1");
  clock_.Advance(absl::Minutes(1));
  Register("reg2", "reg-password", "127.0.7.1");
  TextClient client = Connect("127.0.7.1");
  EXPECT_EQ(client.Ask("REGISTER reg1 reg-password"), "409 user exists");
  EXPECT_THAT(client.Ask("REGISTER bad!name reg-password"), StartsWith("400 "))
      << "validation first: not counted";
  EXPECT_THAT(client.Ask("REGISTER reg3 reg-password"),
              MatchesRegex("429 too many registrations from your address; retry in [0-9]+s"));
  // Logging in is not registering.
  EXPECT_THAT(client.Ask("LOGIN reg1 reg-password"), StartsWith("200 welcome reg1"));
  Register("reg3", "reg-password", "127.0.7.2");
  // 15 minutes after the first, one place is free again.
  clock_.Advance(absl::Minutes(14));
  Register("reg4", "reg-password", "127.0.7.1");
}

TEST_F(AuthServiceTest, FailuresSpreadOverMoreThanTheWindowNeverLock) {
  Register("eve", "eves-password", "127.0.6.60");
  TextClient client = Connect("127.0.6.61");
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(client.Ask("LOGIN eve wrong-guess"), "401 invalid credentials") << i;
    clock_.Advance(absl::Minutes(4));
  }
  EXPECT_THAT(client.Ask("LOGIN eve eves-password"), StartsWith("200 welcome eve"));
}

TEST_F(AuthServiceTest, SessionsExpireAfterTheTtlAndResumingDoesNotExtend) {
  const std::string token = Register("fay", "fays-password", "127.0.6.70");
  TextClient client = Connect("127.0.6.71");
  clock_.Advance(absl::Hours(23));
  EXPECT_EQ(client.Ask(absl::StrCat("RESUME ", token)), "200 welcome back fay");
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(client.Ask("WHOAMI"), "401 not logged in") << "expired on this connection too";
  TextClient later = Connect("127.0.6.72");
  EXPECT_EQ(later.Ask(absl::StrCat("RESUME ", token)), "401 session unknown or expired");
}

TEST_F(AuthServiceTest, PasswdEndsTheOtherSessionsAndKeepsThisOne) {
  TextClient a = Connect("127.0.6.80");
  const std::string registered = a.Ask("REGISTER gina ginas-password");
  ASSERT_THAT(registered, StartsWith("201 "));
  TextClient b = Connect("127.0.6.81");
  const std::string other = TokenOf(b.Ask("LOGIN gina ginas-password"));
  EXPECT_EQ(a.Ask("PASSWD wrong-password ginas-new-password"), "401 invalid credentials");
  EXPECT_THAT(a.Ask("PASSWD ginas-password short"), StartsWith("400 "));
  EXPECT_EQ(a.Ask("PASSWD ginas-password ginas-new-password"),
            "200 password changed; other sessions ended");
  EXPECT_EQ(a.Ask("WHOAMI"), "200 gina");
  EXPECT_EQ(b.Ask("WHOAMI"), "401 not logged in");
  TextClient c = Connect("127.0.6.82");
  EXPECT_EQ(c.Ask(absl::StrCat("RESUME ", other)), "401 session unknown or expired");
  EXPECT_EQ(c.Ask(absl::StrCat("RESUME ", TokenOf(registered))), "200 welcome back gina");
  EXPECT_EQ(c.Ask("LOGIN gina ginas-password"), "401 invalid credentials");
  EXPECT_THAT(c.Ask("LOGIN gina ginas-new-password"), StartsWith("200 welcome gina"));
  TextClient stranger = Connect("127.0.6.83");
  EXPECT_EQ(stranger.Ask("PASSWD ginas-new-password x-new-password"), "401 not logged in");
}

TEST_F(AuthServiceTest, KnownAddressIsGreetedByNameAndMayGiveThePasswordAlone) {
  Register("hana", "hanas-password", "127.0.6.90");
  std::string greeting;
  TextClient client = Connect("127.0.6.90", &greeting);
  EXPECT_EQ(greeting, "220 auth ready; known as hana: LOGIN <password>");
  EXPECT_THAT(client.Ask("LOGIN hanas-password"),
              MatchesRegex(absl::StrCat("200 welcome hana; session ", kTokenPattern)));
  EXPECT_EQ(client.Ask("LOGIN wrong-password"), "401 invalid credentials");
}

// Every file under `dir`, concatenated.
std::string AllBytesUnder(const std::string& dir) {
  std::string all;
  DIR* folder = opendir(dir.c_str());
  if (folder == nullptr) return all;
  while (dirent* entry = readdir(folder)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::ifstream file(dir + "/" + name, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    all += bytes.str();
  }
  closedir(folder);
  return all;
}

TEST_F(AuthServiceTest, NeitherPasswordsNorTokensAreStoredInPlainText) {
  const std::string secret = "plaintext-canary-90210";
  const std::string token = Register("ivan", secret, "127.0.6.100");
  server_.reset();  // everything on disk
  const std::string bytes = AllBytesUnder(data_dir_);
  ASSERT_FALSE(bytes.empty());
  EXPECT_FALSE(absl::StrContains(bytes, secret));
  EXPECT_FALSE(absl::StrContains(bytes, token));
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  ASSERT_EQ(raw.size(), 32u);
  EXPECT_FALSE(absl::StrContains(bytes, raw));
}

TEST_F(AuthServiceTest, AccountsAndSessionsSurviveARestart) {
  const std::string token = Register("jude", "judes-password", "127.0.6.110");
  Start();
  TextClient client = Connect("127.0.6.111");
  EXPECT_EQ(client.Ask(absl::StrCat("RESUME ", token)), "200 welcome back jude");
  EXPECT_THAT(client.Ask("LOGIN jude judes-password"), StartsWith("200 welcome jude"));
}

TEST_F(AuthServiceTest, AHashMadeAtAnotherCostIsUpgradedAtTheNextLogin) {
  Register("kim", "kims-password", "127.0.6.120");
  Start(PwhashCost::kInteractive);
  {
    TextClient client = Connect("127.0.6.121");
    EXPECT_THAT(client.Ask("LOGIN kim kims-password"), StartsWith("200 welcome kim"));
  }
  server_.reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(data_dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::optional<std::string>> hash = (*store)->PasswordHash("kim");
  ASSERT_TRUE(hash.ok() && hash->has_value());
  EXPECT_THAT(**hash, StartsWith("$argon2id$"));
  EXPECT_THAT(**hash, HasSubstr("m=65536,t=2")) << "not rehashed at the interactive cost";
}

TEST(AuthServiceLengthFramingTest, FramesAndNonUtf8) {
  ServerConfig config = AuthConfig(TempPath("auth-length"));
  config.framings = {{"auth", Framing::kLength}};
  InProcessServer server(config);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<TextClient> client =
      TextClient::Connect(server.port("auth"), "127.0.6.130", Framing::kLength);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Next(), kGreeting);
  EXPECT_THAT(client->Ask("REGISTER heidi heidis-password"), StartsWith("201 "));
  EXPECT_THAT(client->Ask("REGISTER ivan two words"), StartsWith("400 "));
  EXPECT_THAT(client->Ask("WHOAMI\xFF"), StartsWith("400 "));
  EXPECT_EQ(client->Ask("WHOAMI"), "200 heidi");
}

TEST(AuthServiceLengthFramingTest, AFrameOverOneMebibyteClosesWithNoReply) {
  InProcessServer server([] {
    ServerConfig config = AuthConfig(TempPath("auth-big-frame"));
    config.framings = {{"auth", Framing::kLength}};
    return config;
  }());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<TextClient> client =
      TextClient::Connect(server.port("auth"), "127.0.6.131", Framing::kLength);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Next(), kGreeting);
  EXPECT_EQ(client->Ask(""), "500 unknown command") << "an empty frame is a message";
  client->SendRaw(std::string("\x00\x10\x00\x01", 4));  // 1 MiB + 1
  EXPECT_TRUE(client->ClosedByServer());
}

TEST_F(AuthServiceTest, AnOverlongLineGets400AndClose) {
  TextClient client = Connect("127.0.6.132");
  EXPECT_EQ(client.Ask(""), "500 unknown command") << "an empty line is a message";
  client.SendRaw("LOGIN " + std::string(5000, 'x') + "\n");
  EXPECT_EQ(client.Next(), "400 line too long");
  EXPECT_TRUE(client.ClosedByServer());
}

}  // namespace
}  // namespace switchboard
