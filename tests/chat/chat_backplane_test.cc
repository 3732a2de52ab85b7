// Copyright Switchboard authors.
//
// Several chat servers on one Redis backplane (a real redis-server started
// here, on its Unix socket and on TCP) serve one room: members of two
// servers see each other's broadcasts in one sequence, WHO lists both,
// a nick taken on one is refused on the other, HISTORY on one returns what
// was said on the other; the members of a server killed with SIGKILL leave
// WHO within --chat_timeout and are announced as LEFT; and when Redis dies
// the members get ERR 503 until it is back, then the room carries on.

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using testing::InProcessServer;
using ::testing::MatchesRegex;
using testing::RedisProcess;
using testing::ServerProcess;
using ::testing::UnorderedElementsAre;

constexpr char kTimeout[] = "<timeout>";
constexpr char kUnavailable[] = "ERR 503 backplane unavailable; try again later";

// A chat member: a blocking UDP socket on 127.0.0.1 talking to one server.
class Member {
 public:
  explicit Member(int server_port) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    server_.sin_family = AF_INET;
    server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server_.sin_port = htons(static_cast<uint16_t>(server_port));
  }
  ~Member() { close(fd_); }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  void Send(absl::string_view datagram) {
    EXPECT_EQ(sendto(fd_, datagram.data(), datagram.size(), 0,
                     reinterpret_cast<const sockaddr*>(&server_), sizeof server_),
              static_cast<ssize_t>(datagram.size()));
  }
  // Sends "<verb> <key>[ <rest>]".
  void Command(absl::string_view verb, absl::string_view rest = {}) {
    Send(rest.empty() ? absl::StrCat(verb, " ", key_) : absl::StrCat(verb, " ", key_, " ", rest));
  }

  // The next datagram, or "<timeout>".
  std::string Receive(absl::Duration timeout = absl::Seconds(5)) {
    timeval tv = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[2048];
    const ssize_t size = recv(fd_, buffer, sizeof buffer, 0);
    if (size < 0) return kTimeout;
    EXPECT_LE(size, 1200);
    return std::string(buffer, static_cast<size_t>(size));
  }
  // Skips datagrams until one starts with `prefix`.
  std::string ReceiveStarting(absl::string_view prefix, absl::Duration within = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + within;
    while (absl::Now() < deadline) {
      std::string datagram = Receive(deadline - absl::Now());
      if (absl::StartsWith(datagram, prefix)) return datagram;
    }
    return kTimeout;
  }
  std::string Ask(absl::string_view datagram) {
    Send(datagram);
    return Receive();
  }

  // Both steps of the join: the reply to the second ("OK ..." or "ERR ...");
  // remembers the key.
  std::string Join(absl::string_view nick) {
    const std::string cookie = Ask(absl::StrCat("JOIN ", nick));
    EXPECT_THAT(cookie, MatchesRegex("COOKIE [A-Za-z0-9_-]{11}"));
    const std::string reply = Ask(absl::StrCat("JOIN ", nick, " ", cookie.substr(7)));
    std::vector<std::string> words = absl::StrSplit(reply, ' ');
    if (words.size() == 3 && words[0] == "OK") key_ = words[1];
    return reply;
  }
  // Joins and waits for its own JOINED; returns that broadcast's number.
  uint64_t MustJoin(absl::string_view nick) {
    EXPECT_THAT(Join(nick), MatchesRegex("OK [A-Za-z0-9_-]{22} [0-9]+")) << nick;
    return SequenceOf(ReceiveStarting(absl::StrCat("JOINED ")));
  }

  // WHO's nicks, or {"<error>"} when something else came.
  std::vector<std::string> Who() {
    Command("WHO");
    std::vector<std::string> nicks;
    for (;;) {
      const std::string datagram = ReceiveStarting("", absl::Seconds(5));
      if (datagram == "END WHO") return nicks;
      if (!absl::StartsWith(datagram, "MEMBERS ")) return {datagram};
      std::vector<std::string> words = absl::StrSplit(datagram.substr(8), ' ');
      nicks.insert(nicks.end(), words.begin(), words.end());
    }
  }
  // HISTORY's broadcasts (up to END HISTORY, not included).
  std::vector<std::string> History(uint64_t from) {
    Command("HISTORY", absl::StrCat(from));
    std::vector<std::string> held;
    for (;;) {
      std::string datagram = Receive();
      if (datagram == "END HISTORY" || datagram == kTimeout) return held;
      held.push_back(std::move(datagram));
      if (held.size() > 2000) return held;
    }
  }

  static uint64_t SequenceOf(absl::string_view broadcast) {
    std::vector<absl::string_view> words = absl::StrSplit(broadcast, ' ');
    uint64_t sequence = 0;
    if (words.size() < 3 || !absl::SimpleAtoi(words[1], &sequence)) return 0;
    return sequence;
  }

 private:
  int fd_ = -1;
  sockaddr_in server_{};
  std::string key_;
};

ServerConfig BackplaneConfig(const std::string& url) {
  ServerConfig config;
  config.services = {"chat"};
  config.ports = {{"chat", 0}};
  config.workers = 1;
  config.chat_backplane = url;
  return config;
}

class ChatBackplaneTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    RedisProcess::Options options;
    options.tcp = GetParam();
    absl::StatusOr<std::unique_ptr<RedisProcess>> redis = RedisProcess::Start(options);
    ASSERT_TRUE(redis.ok()) << "these tests need a real Redis: " << redis.status();
    redis_ = *std::move(redis);
    url_ = GetParam() ? redis_->tcp_url() : redis_->unix_url();
  }

  std::unique_ptr<InProcessServer> StartServer() {
    auto server = std::make_unique<InProcessServer>(BackplaneConfig(url_));
    EXPECT_TRUE(server->ok()) << server->status();
    return server;
  }

  std::unique_ptr<RedisProcess> redis_;
  std::string url_;
};

TEST_P(ChatBackplaneTest, TwoServersServeOneRoom) {
  std::unique_ptr<InProcessServer> a = StartServer();
  std::unique_ptr<InProcessServer> b = StartServer();
  ASSERT_TRUE(a->ok() && b->ok());
  Member alice(a->port("chat"));
  Member bob(b->port("chat"));

  const uint64_t alice_joined = alice.MustJoin("alice");
  EXPECT_EQ(alice_joined, 1u);
  EXPECT_THAT(bob.Join("bob"), MatchesRegex("OK [A-Za-z0-9_-]{22} 2"))
      << "the count is of the whole room";
  EXPECT_EQ(bob.ReceiveStarting("JOINED "), "JOINED 2 bob");
  EXPECT_EQ(alice.ReceiveStarting("JOINED "), "JOINED 2 bob") << "a join on B reaches A";

  bob.Command("MSG", "hello from B");
  EXPECT_EQ(bob.Receive(), "MSG 3 bob hello from B");
  EXPECT_EQ(alice.Receive(), "MSG 3 bob hello from B");
  alice.Command("MSG", "hello from A");
  EXPECT_EQ(alice.Receive(), "MSG 4 alice hello from A");
  EXPECT_EQ(bob.Receive(), "MSG 4 alice hello from A");

  EXPECT_THAT(alice.Who(), UnorderedElementsAre("alice", "bob"));
  EXPECT_THAT(bob.Who(), UnorderedElementsAre("alice", "bob"));
  EXPECT_THAT(bob.History(0), ElementsAre("JOINED 1 alice", "JOINED 2 bob",
                                          "MSG 3 bob hello from B", "MSG 4 alice hello from A"));
  EXPECT_THAT(bob.History(4), ElementsAre("MSG 4 alice hello from A"));

  // A nick taken on A is taken on B.
  Member impostor(b->port("chat"));
  EXPECT_EQ(impostor.Join("alice"), "ERR 409 nick taken");
  EXPECT_EQ(impostor.Join("bob"), "ERR 409 nick taken");

  // LEAVE is told everywhere, the one leaving included, and frees the nick.
  alice.Command("LEAVE");
  EXPECT_EQ(alice.Receive(), "LEFT 5 alice leave");
  EXPECT_EQ(bob.Receive(), "LEFT 5 alice leave");
  EXPECT_THAT(bob.Who(), ElementsAre("bob"));
  EXPECT_THAT(impostor.Join("alice"), MatchesRegex("OK [A-Za-z0-9_-]{22} 2"));
  EXPECT_EQ(bob.ReceiveStarting("JOINED "), "JOINED 6 alice");
}

TEST_P(ChatBackplaneTest, RoomFullCountsEveryServer) {
  ServerConfig config = BackplaneConfig(url_);
  config.chat_max_members = 2;
  InProcessServer a(config);
  InProcessServer b(config);
  ASSERT_TRUE(a.ok() && b.ok());
  Member alice(a.port("chat"));
  Member bob(b.port("chat"));
  Member carol(a.port("chat"));
  alice.MustJoin("alice");
  bob.MustJoin("bob");
  EXPECT_EQ(carol.Join("carol"), "ERR 503 room full") << "one member here, two in the room";
}

TEST_P(ChatBackplaneTest, BroadcastsKeepOneOrderEverywhere) {
  std::unique_ptr<InProcessServer> a = StartServer();
  std::unique_ptr<InProcessServer> b = StartServer();
  ASSERT_TRUE(a->ok() && b->ok());
  Member alice(a->port("chat"));
  Member bob(b->port("chat"));
  alice.MustJoin("alice");
  bob.MustJoin("bob");
  alice.ReceiveStarting("JOINED 2");
  // Both talk at once, within their rate limits.
  for (int i = 0; i < 8; ++i) {
    alice.Command("MSG", absl::StrCat("a", i));
    bob.Command("MSG", absl::StrCat("b", i));
  }
  std::vector<std::string> at_alice, at_bob;
  for (int i = 0; i < 16; ++i) at_alice.push_back(alice.Receive());
  for (int i = 0; i < 16; ++i) at_bob.push_back(bob.Receive());
  EXPECT_EQ(at_alice, at_bob) << "every member sees the same broadcasts in the same order";
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(Member::SequenceOf(at_alice[i]), static_cast<uint64_t>(3 + i)) << at_alice[i];
  }
  EXPECT_EQ(bob.History(3), at_bob) << "the history's order is the sequence's";
}

TEST_P(ChatBackplaneTest, RedisLostMeansErr503ThenTheRoomCarriesOn) {
  std::unique_ptr<InProcessServer> a = StartServer();
  std::unique_ptr<InProcessServer> b = StartServer();
  ASSERT_TRUE(a->ok() && b->ok());
  Member alice(a->port("chat"));
  Member bob(b->port("chat"));
  alice.MustJoin("alice");
  bob.MustJoin("bob");
  alice.Command("MSG", "before");
  EXPECT_EQ(bob.ReceiveStarting("MSG "), "MSG 3 alice before");

  redis_->Kill();
  absl::SleepFor(absl::Milliseconds(200));
  alice.Command("MSG", "during");
  EXPECT_EQ(alice.ReceiveStarting("ERR ", absl::Seconds(5)), kUnavailable);
  bob.Command("WHO");
  EXPECT_EQ(bob.ReceiveStarting("ERR "), kUnavailable);
  bob.Command("HISTORY", "0");
  EXPECT_EQ(bob.ReceiveStarting("ERR "), kUnavailable);
  bob.Command("PING");
  EXPECT_EQ(bob.Receive(), "PONG") << "what needs no backplane still works";
  Member carol(a->port("chat"));
  EXPECT_EQ(carol.Join("carol"), kUnavailable);

  ASSERT_TRUE(redis_->Restart().ok());
  // Back within the reconnection backoff.
  std::string heard = kTimeout;
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline && !absl::StartsWith(heard, "MSG ")) {
    alice.Command("MSG", "after");
    heard = alice.Receive(absl::Milliseconds(200));
  }
  ASSERT_THAT(heard, MatchesRegex("MSG [0-9]+ alice after"));
  EXPECT_GT(Member::SequenceOf(heard), 3u) << "the sequence never goes back, although Redis "
                                              "lost everything";
  EXPECT_EQ(bob.ReceiveStarting("MSG "), heard);
  // The servers put their members back; the nicks are still taken.
  EXPECT_THAT(bob.Who(), UnorderedElementsAre("alice", "bob"));
  EXPECT_EQ(carol.Join("bob"), "ERR 409 nick taken");
  EXPECT_THAT(carol.Join("carol"), MatchesRegex("OK [A-Za-z0-9_-]{22} 3"));
}

// Runs one command on Redis (blocking), for the test's own look at it.
std::string RedisCommand(const std::string& socket_path, const std::vector<std::string>& args) {
  redisContext* context = redisConnectUnix(socket_path.c_str());
  if (context == nullptr || context->err != 0) {
    if (context != nullptr) redisFree(context);
    return "<no connection>";
  }
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data()));
  std::string answer = "<no reply>";
  if (reply != nullptr) {
    answer = reply->type == REDIS_REPLY_INTEGER ? absl::StrCat(reply->integer)
             : reply->str != nullptr            ? std::string(reply->str, reply->len)
                                                : "<other>";
    freeReplyObject(reply);
  }
  redisFree(context);
  return answer;
}

TEST_P(ChatBackplaneTest, BroadcastsMadeWhileSubscriptionsWereDownAreDeliveredOnce) {
  std::unique_ptr<InProcessServer> a = StartServer();
  std::unique_ptr<InProcessServer> b = StartServer();
  ASSERT_TRUE(a->ok() && b->ok());
  Member alice(a->port("chat"));
  Member bob(b->port("chat"));
  alice.MustJoin("alice");
  bob.MustJoin("bob");
  EXPECT_EQ(alice.ReceiveStarting("JOINED "), "JOINED 2 bob");
  // Every subscription dropped; at once, a broadcast as a third server
  // would make it (the key layout is the contract between servers).
  const std::string sock = redis_->socket_path();
  EXPECT_NE(RedisCommand(sock, {"CLIENT", "KILL", "TYPE", "pubsub"}), "0");
  EXPECT_EQ(RedisCommand(sock, {"INCR", "switchboard:chat:seq"}), "3");
  EXPECT_EQ(RedisCommand(sock, {"LPUSH", "switchboard:chat:history", "MSG 3 zed while away"}), "3");
  RedisCommand(sock, {"PUBLISH", "switchboard:chat:broadcasts", "MSG 3 zed while away"});
  EXPECT_EQ(alice.ReceiveStarting("MSG "), "MSG 3 zed while away");
  EXPECT_EQ(bob.ReceiveStarting("MSG "), "MSG 3 zed while away");
  // Then the room goes on, with nothing repeated.
  std::string heard = kTimeout;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !absl::StartsWith(heard, "MSG ")) {
    alice.Command("MSG", "next");
    heard = alice.Receive(absl::Milliseconds(200));
  }
  EXPECT_EQ(heard, "MSG 4 alice next");
  EXPECT_EQ(bob.Receive(), "MSG 4 alice next");
}

TEST_P(ChatBackplaneTest, MembersOfAKilledServerLeaveWithinTheTimeout) {
  const std::vector<std::string> flags = {absl::StrCat("--chat_backplane=", url_),
                                          "--chat_timeout=2s"};
  absl::StatusOr<ServerProcess> a = ServerProcess::Start({"chat"}, flags);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<ServerProcess> b = ServerProcess::Start({"chat"}, flags);
  ASSERT_TRUE(b.ok()) << b.status();
  Member alice(a->port("chat"));
  Member bob(b->port("chat"));
  alice.MustJoin("alice");
  bob.MustJoin("bob");
  EXPECT_THAT(bob.Who(), UnorderedElementsAre("alice", "bob"));

  a->process().Signal(SIGKILL);
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(a->process().Wait(absl::Seconds(10)).has_value());
  // bob keeps talking (PING) so that only alice falls silent.
  std::string left = kTimeout;
  while (absl::Now() - killed < absl::Seconds(6) && left == kTimeout) {
    bob.Command("PING");
    // A PING every 300 ms, well within the rate limit.
    const absl::Time next = absl::Now() + absl::Milliseconds(300);
    while (absl::Now() < next && left == kTimeout) {
      const std::string datagram = bob.Receive(next - absl::Now());
      if (absl::StartsWith(datagram, "LEFT ")) left = datagram;
    }
  }
  const absl::Duration took = absl::Now() - killed;
  EXPECT_THAT(left, MatchesRegex("LEFT [0-9]+ alice timeout"));
  // The lease (2 s) plus one renewal period (a third of it), and slack.
  EXPECT_LT(took, absl::Seconds(3) + absl::Milliseconds(700)) << took;
  EXPECT_THAT(bob.Who(), ElementsAre("bob"));
  Member again(b->port("chat"));
  EXPECT_THAT(again.Join("alice"), MatchesRegex("OK [A-Za-z0-9_-]{22} 2")) << "the nick is free";
  EXPECT_EQ(b->Stop(), 0) << b->process().Stderr();
}

// Runs the server with `flag` and returns its exit status and stderr.
std::pair<int, std::string> RunServer(const std::string& flag) {
  absl::StatusOr<testing::ChildProcess> child = testing::ChildProcess::Start(
      {testing::RunfilePath("services/server"), "--services=chat", "--chat_port=0", flag});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {-1, ""};
  const std::optional<int> status = child->Wait(absl::Seconds(20));
  return {status.value_or(-1), child->Stderr()};
}

TEST(ChatBackplaneStartupTest, BadOrUnreachableBackplaneIsOneLineAndStatus2) {
  struct Case {
    std::string flag;
    std::string says;
  };
  const std::string missing = testing::TempPath("no-redis") + ".sock";
  for (const Case& c : std::vector<Case>{
           {"--chat_backplane=localhost:6379", "is not a Redis address"},
           {"--chat_backplane=redis://localhost", "needs a port"},
           {"--chat_backplane=unix://relative.sock", "no absolute socket path"},
           {"--chat_backplane=unix://" + missing, "cannot reach Redis at unix://" + missing},
       }) {
    const auto [status, stderr_text] = RunServer(c.flag);
    EXPECT_EQ(status, 2) << c.flag << "\n" << stderr_text;
    EXPECT_THAT(stderr_text, MatchesRegex(absl::StrCat("server: --chat_backplane: [^\n]*", "\n")))
        << "one line: " << c.flag;
    EXPECT_THAT(stderr_text, ::testing::HasSubstr(c.says)) << c.flag;
  }
}

INSTANTIATE_TEST_SUITE_P(UnixAndTcp, ChatBackplaneTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tcp" : "Unix";
                         });

}  // namespace
}  // namespace switchboard
