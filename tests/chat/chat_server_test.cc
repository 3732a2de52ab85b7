// Copyright Switchboard authors.
//
// The chat service end to end: an in-process server with the chat room on
// a UDP port, and plain blocking UDP sockets from distinct loopback
// addresses as its members: joining, broadcasts, WHO, HISTORY, LEAVE,
// silence towards strangers, idle timeouts, a room of 100, a full room, an
// IPv6 member on a dual-stack listener, and the listener's wiring.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "services/server.h"
#include "tests/testing/loop_thread.h"
#include "tests/testing/text_client.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using testing::InProcessServer;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr absl::string_view kTimeout = "<timeout>";

ServerConfig ChatConfig(absl::string_view host = "127.0.0.1") {
  ServerConfig config;
  config.host = std::string(host);
  config.services = {"chat"};
  config.ports = {{"chat", 0}};
  config.workers = 1;
  return config;
}

// A blocking UDP socket bound to `ip`:0 that talks to one server address.
// Every receive is bounded by SO_RCVTIMEO.
class UdpClient {
 public:
  // nullptr (and the reason in `error`) when the socket cannot be made.
  static std::unique_ptr<UdpClient> Open(absl::string_view ip, const InetAddress& server,
                                         std::string* error, int receive_buffer = 0) {
    absl::StatusOr<InetAddress> local = InetAddress::Parse(ip, 0);
    if (!local.ok()) {
      *error = std::string(local.status().message());
      return nullptr;
    }
    const int fd = socket(local->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = absl::StrCat("socket: ", std::strerror(errno));
      return nullptr;
    }
    std::unique_ptr<UdpClient> client(new UdpClient(fd, server));
    if (receive_buffer > 0) {
      // Beyond rmem_max only with CAP_NET_ADMIN; the plain one caps.
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
      }
    }
    if (bind(fd, local->sockaddr_ptr(), local->length()) != 0) {
      *error = absl::StrCat("bind ", ip, ": ", std::strerror(errno));
      return nullptr;
    }
    return client;
  }
  static std::unique_ptr<UdpClient> Open(absl::string_view ip, const InetAddress& server,
                                         int receive_buffer = 0) {
    std::string error;
    std::unique_ptr<UdpClient> client = Open(ip, server, &error, receive_buffer);
    EXPECT_NE(client, nullptr) << error;
    return client;
  }

  ~UdpClient() { close(fd_); }
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  void Send(absl::string_view datagram) {
    const ssize_t sent =
        sendto(fd_, datagram.data(), datagram.size(), 0, server_.sockaddr_ptr(), server_.length());
    EXPECT_EQ(sent, static_cast<ssize_t>(datagram.size())) << std::strerror(errno);
  }

  // The next datagram, or "<timeout>".
  std::string Receive(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    char buffer[2048];
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::string(kTimeout);
      timeval tv = absl::ToTimeval(std::max(left, absl::Milliseconds(1)));
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const ssize_t size = recv(fd_, buffer, sizeof buffer, 0);
      if (size >= 0) {
        EXPECT_LE(static_cast<size_t>(size), 1200u) << "every datagram fits in 1200 bytes";
        return std::string(buffer, static_cast<size_t>(size));
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::string(kTimeout);
      if (errno != EINTR) {
        ADD_FAILURE() << "recv: " << std::strerror(errno);
        return std::string(kTimeout);
      }
    }
  }

  // Receives until a datagram satisfies `wanted`, skipping the others;
  // "<timeout>" when none does within `within`.
  std::string ReceiveUntil(const std::function<bool(absl::string_view)>& wanted,
                           absl::Duration within = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + within;
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::string(kTimeout);
      std::string datagram = Receive(left);
      if (datagram == kTimeout || wanted(datagram)) return datagram;
    }
  }

  std::string Ask(absl::string_view datagram) {
    Send(datagram);
    return Receive();
  }

  // Both steps of the join; returns the member key ("" on failure). The
  // OK's count is checked when `expected_count` is given.
  std::string Join(absl::string_view nick, int expected_count = -1) {
    const std::string cookie = Ask(absl::StrCat("JOIN ", nick));
    EXPECT_THAT(cookie, MatchesRegex("COOKIE [A-Za-z0-9_-]{11}"));
    if (!absl::StartsWith(cookie, "COOKIE ")) return "";
    const std::string ok = Ask(absl::StrCat("JOIN ", nick, " ", cookie.substr(7)));
    EXPECT_THAT(ok, MatchesRegex("OK [A-Za-z0-9_-]{22} [0-9]+")) << nick;
    std::vector<std::string> words = absl::StrSplit(ok, ' ');
    if (words.size() != 3 || words[0] != "OK") return "";
    if (expected_count >= 0) {
      EXPECT_EQ(words[2], absl::StrCat(expected_count)) << ok;
    }
    const std::string joined = Receive();
    EXPECT_THAT(joined, MatchesRegex(absl::StrCat("JOINED [0-9]+ ", nick)));
    return words[1];
  }

  // True when nothing arrives for `quiet`.
  bool Silent(absl::Duration quiet = absl::Milliseconds(200)) {
    const std::string datagram = Receive(quiet);
    EXPECT_EQ(datagram, kTimeout) << "expected silence";
    return datagram == kTimeout;
  }

 private:
  UdpClient(int fd, const InetAddress& server) : fd_(fd), server_(server) {}

  int fd_;
  InetAddress server_;
};

InetAddress ServerAddress(absl::string_view ip, int port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(ip, static_cast<uint16_t>(port));
  EXPECT_TRUE(address.ok()) << address.status();
  return *address;
}

class ChatServerTest : public ::testing::Test {
 protected:
  void Start(const ServerConfig& config) {
    server_ = std::make_unique<InProcessServer>(config);
    ASSERT_TRUE(server_->ok()) << server_->status();
    port_ = server_->port("chat");
    ASSERT_GT(port_, 0);
  }
  std::unique_ptr<UdpClient> Client(absl::string_view ip, int receive_buffer = 0) {
    return UdpClient::Open(ip, ServerAddress("127.0.0.1", port_), receive_buffer);
  }

  std::unique_ptr<InProcessServer> server_;
  int port_ = -1;
};

TEST_F(ChatServerTest, JoinBroadcastWhoHistoryLeave) {
  Start(ChatConfig());
  std::unique_ptr<UdpClient> alice = Client("127.0.0.2");
  std::unique_ptr<UdpClient> bob = Client("127.0.0.3");
  std::unique_ptr<UdpClient> stranger = Client("127.0.0.4");
  ASSERT_TRUE(alice && bob && stranger);

  const std::string alice_key = alice->Join("alice", 1);
  ASSERT_FALSE(alice_key.empty());
  const std::string bob_key = bob->Join("bob", 2);
  ASSERT_FALSE(bob_key.empty());
  EXPECT_EQ(alice->Receive(), "JOINED 2 bob");

  // A message reaches both, the sender included; `nc -u`'s newline goes.
  alice->Send(absl::StrCat("MSG ", alice_key, " hello,  bob!\n"));
  EXPECT_EQ(alice->Receive(), "MSG 3 alice hello,  bob!");
  EXPECT_EQ(bob->Receive(), "MSG 3 alice hello,  bob!");

  bob->Send(absl::StrCat("WHO ", bob_key));
  std::vector<std::string> members = absl::StrSplit(bob->Receive(), ' ');
  EXPECT_THAT(members, ::testing::UnorderedElementsAre("MEMBERS", "alice", "bob"));
  EXPECT_EQ(bob->Receive(), "END WHO");

  bob->Send(absl::StrCat("HISTORY ", bob_key, " 0"));
  std::vector<std::string> history;
  for (int i = 0; i < 4; ++i) history.push_back(bob->Receive());
  EXPECT_THAT(history, ElementsAre("JOINED 1 alice", "JOINED 2 bob", "MSG 3 alice hello,  bob!",
                                   "END HISTORY"));
  EXPECT_EQ(alice->Ask(absl::StrCat("PING ", alice_key)), "PONG");
  EXPECT_EQ(alice->Ask(absl::StrCat("MSG ", bob_key, " hi")), "ERR 403 bad key");
  EXPECT_EQ(alice->Ask(absl::StrCat("DANCE ", alice_key)), "ERR 500 unknown command");
  EXPECT_EQ(alice->Ask(std::string(1300, 'x')), "ERR 413 too large");
  // Larger than the server's receive slot: cut on receipt, still refused.
  EXPECT_EQ(alice->Ask(absl::StrCat("MSG ", alice_key, " ", std::string(5000, 'x'))),
            "ERR 413 too large");
  // The largest datagram, 1200 bytes, is fine.
  const std::string head = absl::StrCat("MSG ", alice_key, " ");
  alice->Send(head + std::string(1200 - head.size(), 'y'));
  EXPECT_EQ(alice->Receive(), absl::StrCat("MSG 4 alice ", std::string(1200 - head.size(), 'y')));
  EXPECT_EQ(bob->Receive(), absl::StrCat("MSG 4 alice ", std::string(1200 - head.size(), 'y')));

  // Strangers hear nothing, even with a member's key.
  stranger->Send(absl::StrCat("PING ", alice_key));
  stranger->Send(absl::StrCat("MSG ", alice_key, " spoofed"));
  stranger->Send("WHO");
  stranger->Send(std::string(1300, 'x'));
  EXPECT_TRUE(stranger->Silent());
  EXPECT_TRUE(bob->Silent(absl::Milliseconds(50)));

  bob->Send(absl::StrCat("LEAVE ", bob_key));
  EXPECT_EQ(bob->Receive(), "LEFT 5 bob leave");
  EXPECT_EQ(alice->Receive(), "LEFT 5 bob leave");
  // A stranger again.
  bob->Send(absl::StrCat("PING ", bob_key));
  EXPECT_TRUE(bob->Silent());
  alice->Send(absl::StrCat("MSG ", alice_key, " alone"));
  EXPECT_EQ(alice->Receive(), "MSG 6 alice alone");
  EXPECT_TRUE(bob->Silent(absl::Milliseconds(50)));
}

TEST_F(ChatServerTest, SilentMemberTimesOut) {
  ServerConfig config = ChatConfig();
  config.chat_timeout = absl::Milliseconds(400);
  Start(config);
  std::unique_ptr<UdpClient> alice = Client("127.0.0.2");
  std::unique_ptr<UdpClient> bob = Client("127.0.0.3");
  ASSERT_TRUE(alice && bob);
  const std::string alice_key = alice->Join("alice", 1);
  const std::string bob_key = bob->Join("bob", 2);
  ASSERT_FALSE(alice_key.empty() || bob_key.empty());

  // Bob PINGs every 100 ms; alice says nothing.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  std::string left;
  while (left.empty() && absl::Now() < deadline) {
    bob->Send(absl::StrCat("PING ", bob_key));
    const std::string got = bob->ReceiveUntil(
        [](absl::string_view d) { return d == "PONG" || absl::StartsWith(d, "LEFT "); },
        absl::Seconds(1));
    if (absl::StartsWith(got, "LEFT ")) left = got;
    if (left.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(left, MatchesRegex("LEFT 3 alice timeout"));
  // Bob, who kept PINGing, stayed (his last PING was about 100 ms ago).
  EXPECT_EQ(bob->Ask(absl::StrCat("PING ", bob_key)), "PONG");
  // Alice is not told (she is gone), and is a stranger now.
  alice->Send(absl::StrCat("PING ", alice_key));
  EXPECT_EQ(alice->ReceiveUntil([](absl::string_view d) { return d != "JOINED 2 bob"; },
                                absl::Milliseconds(200)),
            kTimeout);
}

TEST_F(ChatServerTest, HundredMembersEachReceiveABroadcast) {
  Start(ChatConfig());
  constexpr int kMembers = 100;
  std::vector<std::unique_ptr<UdpClient>> clients;
  std::vector<std::string> keys;
  for (int i = 0; i < kMembers; ++i) {
    clients.push_back(Client(absl::StrCat("127.0.0.", 10 + i), 1 << 20));
    ASSERT_NE(clients.back(), nullptr);
    keys.push_back(clients.back()->Join(absl::StrCat("m", i), i + 1));
    ASSERT_FALSE(keys.back().empty()) << i;
  }
  clients[42]->Send(absl::StrCat("MSG ", keys[42], " hello, everyone"));
  const std::string expected = absl::StrCat("MSG ", kMembers + 1, " m42 hello, everyone");
  for (int i = 0; i < kMembers; ++i) {
    // Member i has the JOINED of those after it waiting first.
    int joined_seen = 0;
    const std::string got = clients[i]->ReceiveUntil([&](absl::string_view d) {
      if (absl::StartsWith(d, "JOINED ")) ++joined_seen;
      return !absl::StartsWith(d, "JOINED ");
    });
    EXPECT_EQ(got, expected) << "member " << i;
    EXPECT_EQ(joined_seen, kMembers - 1 - i) << "member " << i << " lost a JOINED";
  }
}

TEST_F(ChatServerTest, RoomFull) {
  ServerConfig config = ChatConfig();
  config.chat_max_members = 2;
  Start(config);
  std::unique_ptr<UdpClient> alice = Client("127.0.0.2");
  std::unique_ptr<UdpClient> bob = Client("127.0.0.3");
  std::unique_ptr<UdpClient> carol = Client("127.0.0.4");
  ASSERT_TRUE(alice && bob && carol);
  ASSERT_FALSE(alice->Join("alice", 1).empty());
  ASSERT_FALSE(bob->Join("bob", 2).empty());
  const std::string cookie = carol->Ask("JOIN carol");
  ASSERT_THAT(cookie, StartsWith("COOKIE "));
  EXPECT_EQ(carol->Ask(absl::StrCat("JOIN carol ", cookie.substr(7))), "ERR 503 room full");
  // Nobody was told of anything.
  EXPECT_EQ(alice->Receive(), "JOINED 2 bob");
  EXPECT_TRUE(alice->Silent(absl::Milliseconds(100)));
}

TEST_F(ChatServerTest, Ipv6MemberOnDualStackListener) {
  {
    // No IPv6 here (some sandboxes): nothing to test.
    std::string error;
    if (UdpClient::Open("::1", ServerAddress("::1", 9), &error) == nullptr) {
      GTEST_SKIP() << "no IPv6 loopback: " << error;
    }
  }
  Start(ChatConfig("::"));
  std::unique_ptr<UdpClient> six = UdpClient::Open("::1", ServerAddress("::1", port_));
  std::unique_ptr<UdpClient> four = Client("127.0.0.2");
  ASSERT_TRUE(six && four);
  const std::string six_key = six->Join("six", 1);
  const std::string four_key = four->Join("four", 2);
  ASSERT_FALSE(six_key.empty() || four_key.empty());
  EXPECT_EQ(six->Receive(), "JOINED 2 four");

  six->Send(absl::StrCat("MSG ", six_key, " from v6"));
  EXPECT_EQ(six->Receive(), "MSG 3 six from v6");
  EXPECT_EQ(four->Receive(), "MSG 3 six from v6");
  four->Send(absl::StrCat("MSG ", four_key, " from v4"));
  EXPECT_EQ(six->Receive(), "MSG 4 four from v4");
  EXPECT_EQ(four->Receive(), "MSG 4 four from v4");
  EXPECT_EQ(six->Ask(absl::StrCat("PING ", six_key)), "PONG");
}

TEST(ChatServerWiringTest, ListenerIsUdpBesideTcpServices) {
  testing::LoopThread loop;
  ServerConfig config = ChatConfig();
  config.services = {"chat", "echo"};
  config.ports = {{"chat", 0}, {"echo", 0}};
  loop.RunSync([&] {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(config, loop.loop());
    ASSERT_TRUE(server.ok()) << server.status();
    const std::vector<Server::Listener>& listeners = (*server)->listeners();
    ASSERT_EQ(listeners.size(), 2u);
    EXPECT_EQ(listeners[0].service, "chat");
    EXPECT_EQ(listeners[0].transport, "udp");
    EXPECT_NE(listeners[0].address.port(), 0);
    EXPECT_EQ(Server::ListeningLine(listeners[0]),
              absl::StrCat("listening chat udp 127.0.0.1:", listeners[0].address.port()));
    EXPECT_EQ(listeners[1].service, "echo");
    EXPECT_EQ(listeners[1].transport, "tcp");
    (*server)->Shutdown();
  });
}

TEST(ChatServerWiringTest, BusyUdpPortIsSkippedWithPortSearch) {
  // Hold a UDP port, then ask for it.
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  absl::StatusOr<InetAddress> any = InetAddress::Parse("127.0.0.1", 0);
  ASSERT_TRUE(any.ok());
  ASSERT_EQ(bind(fd, any->sockaddr_ptr(), any->length()), 0) << std::strerror(errno);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length), 0);
  const int busy = InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&bound), length).port();
  if (busy > 65000) {
    close(fd);
    GTEST_SKIP() << "port " << busy << " leaves no room to search";
  }

  ServerConfig config = ChatConfig();
  config.ports = {{"chat", busy}};
  {
    InProcessServer refused(config);
    EXPECT_FALSE(refused.ok());
    EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("cannot listen for chat"));
  }
  config.port_search = 20;
  {
    InProcessServer server(config);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_GT(server.port("chat"), busy);
    EXPECT_LE(server.port("chat"), busy + 20);
    std::unique_ptr<UdpClient> alice =
        UdpClient::Open("127.0.0.2", ServerAddress("127.0.0.1", server.port("chat")));
    ASSERT_NE(alice, nullptr);
    EXPECT_THAT(alice->Ask("JOIN alice"), StartsWith("COOKIE "));
  }
  close(fd);
}

TEST(ChatServerWiringTest, BadChatSettingsAreRefused) {
  ServerConfig config = ChatConfig();
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
  ServerConfig framed = config;
  framed.framings = {{"chat", Framing::kLine}};
  EXPECT_FALSE(ValidateConfig(framed).ok());
  ServerConfig empty_room = config;
  empty_room.chat_max_members = 0;
  EXPECT_FALSE(ValidateConfig(empty_room).ok());
  ServerConfig no_timeout = config;
  no_timeout.chat_timeout = absl::ZeroDuration();
  EXPECT_FALSE(ValidateConfig(no_timeout).ok());
  for (double rate : {0.0, -1.0, std::nan("")}) {
    ServerConfig bad_rate = config;
    bad_rate.chat_rate = rate;
    EXPECT_FALSE(ValidateConfig(bad_rate).ok()) << rate;
  }
}

}  // namespace
}  // namespace switchboard
