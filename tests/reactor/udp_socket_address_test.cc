// Copyright Switchboard authors.
//
// UdpSocket's addresses through real loopback sockets (IPv4, IPv6,
// dual-stack "::"): binding at port 0, a port that is taken, replies to an
// IPv4 client as a mapped address, and sends to an address of the wrong
// family.

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"
#include "reactor/udp_socket.h"
#include "tests/reactor/udp_socket_test_util.h"
#include "tests/testing/loop_thread.h"

namespace switchboard::udp_socket_test {
namespace {

using testing::LoopThread;

// ---------------------------------------------------------------------------
// 1. Binding, addresses, dual stack.

TEST(UdpSocketTest, BindOnIpv4PortZeroReportsTheKernelsPort) {
  Server server("127.0.0.1");
  EXPECT_FALSE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  EXPECT_EQ(server.address().IpString(), "127.0.0.1");
  server.Run([&](UdpSocket& s) {
    sockaddr_in name{};
    socklen_t length = sizeof name;
    ASSERT_EQ(getsockname(s.fd(), reinterpret_cast<sockaddr*>(&name), &length), 0);
    EXPECT_EQ(ntohs(name.sin_port), s.local_address().port());
  });

  // The port is the real one: a datagram sent to it arrives, from the client.
  server.Start(/*echo=*/false);
  Client client;
  client.SendTo(server.Target("127.0.0.1"), "ping");
  ASSERT_TRUE(server.inbox().WaitFor(1));
  const Seen seen = server.inbox().Get()[0];
  EXPECT_EQ(seen.data, "ping");
  EXPECT_EQ(seen.size, 4u);
  EXPECT_FALSE(seen.truncated);
  EXPECT_EQ(seen.from.ToString(), client.address().ToString());
}

TEST(UdpSocketTest, BindOnIpv6PortZeroReportsTheKernelsPort) {
  REQUIRE_IPV6();
  Server server("::1");
  EXPECT_TRUE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  EXPECT_EQ(server.address().ToString(), absl::StrCat("[::1]:", server.address().port()));

  server.Start(/*echo=*/true);
  Client client("::1");
  client.SendTo(server.Target("::1"), "ping6");
  InetAddress from;
  std::optional<std::string> echo = client.Receive(&from);
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, "ping6");
  EXPECT_EQ(from.ToString(), server.address().ToString());
  ASSERT_TRUE(server.inbox().WaitFor(1));
  const Seen seen = server.inbox().Get()[0];
  EXPECT_TRUE(seen.from.is_ipv6());
  EXPECT_EQ(seen.from.ToString(), client.address().ToString());
}

TEST(UdpSocketTest, DualStackReceivesFromAnIpv4ClientAsMappedAndAnswers) {
  REQUIRE_IPV6();
  Server server("::");
  EXPECT_TRUE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  server.Start(/*echo=*/true);

  Client v4("127.0.0.1");
  v4.SendTo(server.Target("127.0.0.1"), "from v4");
  InetAddress from;
  std::optional<std::string> echo = v4.Receive(&from);
  ASSERT_TRUE(echo.has_value()) << "no answer to the IPv4 client";
  EXPECT_EQ(*echo, "from v4");
  EXPECT_EQ(from.ToString(), absl::StrCat("127.0.0.1:", server.address().port()));

  Client v6("::1");
  v6.SendTo(server.Target("::1"), "from v6");
  echo = v6.Receive();
  ASSERT_TRUE(echo.has_value()) << "no answer to the IPv6 client";
  EXPECT_EQ(*echo, "from v6");

  ASSERT_TRUE(server.inbox().WaitFor(2));
  const std::vector<Seen> seen = server.inbox().Get();
  // As the kernel reports it: IPv4-mapped IPv6.
  EXPECT_EQ(seen[0].from.family(), AF_INET6);
  const auto* mapped = reinterpret_cast<const sockaddr_in6*>(seen[0].from.sockaddr_ptr());
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&mapped->sin6_addr));
  const InetAddress plain = seen[0].from.Unmapped();
  EXPECT_FALSE(plain.is_ipv6());
  EXPECT_EQ(plain.IpString(), "127.0.0.1");
  EXPECT_EQ(plain.port(), v4.address().port());
  EXPECT_EQ(seen[1].from.ToString(), v6.address().ToString());
  EXPECT_EQ(seen[1].from.Unmapped().ToString(), v6.address().ToString());
}

TEST(UdpSocketTest, BindFailsWhenThePortIsTaken) {
  Client holder("127.0.0.1");
  LoopThread thread;
  thread.RunSync([&] {
    absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
        UdpSocket::Bind(thread.loop(), holder.address());
    EXPECT_FALSE(socket.ok());
    EXPECT_EQ(thread.loop()->watcher_count(), 0u);
  });
}

// ---------------------------------------------------------------------------
// 2. A destination of the wrong family (and other datagrams the kernel
// refuses one by one).

TEST(UdpSocketTest, ASendToTheWrongFamilyIsDroppedAndTheRestStillGoes) {
  Server server("127.0.0.1");
  Client receiver;
  const InetAddress v6 = Address("::1", 9);  // never reached: wrong family
  server.Run([&](UdpSocket& s) {
    s.SendTo(v6, "bad first");
    s.SendTo(receiver.address(), "good 1");
    s.SendTo(v6, "bad middle");
    s.SendTo(receiver.address(), std::string(70000, 'x'));  // EMSGSIZE
    s.SendTo(receiver.address(), "good 2");
    s.SendTo(v6, "bad last");
    s.Flush();
    EXPECT_EQ(s.queued(), 0u);
    EXPECT_EQ(s.sent(), 2u);
    EXPECT_EQ(s.dropped(), 4u);
  });
  std::optional<std::string> got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 1");
  got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 2");

  // Alone in the queue, and then the queue works as before.
  server.Run([&](UdpSocket& s) {
    s.SendTo(v6, "bad alone");
    s.Flush();
    EXPECT_EQ(s.queued(), 0u);
    EXPECT_EQ(s.dropped(), 5u);
    s.SendTo(receiver.address(), "good 3");
    s.Flush();
    EXPECT_EQ(s.sent(), 3u);
  });
  got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 3");
  EXPECT_EQ(receiver.Drain(), 0u);
}

}  // namespace
}  // namespace switchboard::udp_socket_test
