// Copyright Switchboard authors.
//
// InetAddress (parsing, printing, IPv4-mapped IPv6) and Socket (listen,
// connect, accept, send and receive, half-close, options) on loopback.

#include "reactor/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "tests/testing/socket_pair.h"

namespace switchboard {
namespace {

InetAddress Address(absl::string_view host, uint16_t port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(host, port);
  EXPECT_TRUE(address.ok()) << address.status();
  return address.ok() ? *address : InetAddress();
}

// ---------------------------------------------------------------------------
// InetAddress

TEST(InetAddressTest, DefaultIsTheIpv4Wildcard) {
  InetAddress address;
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_FALSE(address.is_ipv6());
  EXPECT_EQ(address.port(), 0);
  EXPECT_EQ(address.ToString(), "0.0.0.0:0");
  EXPECT_EQ(address.length(), sizeof(sockaddr_in));
}

TEST(InetAddressTest, ParsesAndPrintsIpv4) {
  InetAddress address = Address("127.0.0.1", 7007);
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_EQ(address.port(), 7007);
  EXPECT_EQ(address.IpString(), "127.0.0.1");
  EXPECT_EQ(address.ToString(), "127.0.0.1:7007");
  EXPECT_EQ(Address("0.0.0.0", 65535).ToString(), "0.0.0.0:65535");
  const auto* raw = reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr());
  EXPECT_EQ(ntohs(raw->sin_port), 7007);
  EXPECT_EQ(ntohl(raw->sin_addr.s_addr), INADDR_LOOPBACK);
}

TEST(InetAddressTest, ParsesAndPrintsIpv6WithBrackets) {
  InetAddress any = Address("::", 7007);
  EXPECT_TRUE(any.is_ipv6());
  EXPECT_EQ(any.family(), AF_INET6);
  EXPECT_EQ(any.port(), 7007);
  EXPECT_EQ(any.IpString(), "::");
  EXPECT_EQ(any.ToString(), "[::]:7007");
  EXPECT_EQ(any.length(), sizeof(sockaddr_in6));

  EXPECT_EQ(Address("[::]", 7007).ToString(), "[::]:7007") << "brackets are accepted";
  EXPECT_EQ(Address("::1", 80).ToString(), "[::1]:80");
  EXPECT_EQ(Address("[::1]", 80).ToString(), "[::1]:80");
  EXPECT_EQ(Address("2001:DB8:0:0:0:0:0:1", 1).ToString(), "[2001:db8::1]:1")
      << "printed in the canonical short form";
}

TEST(InetAddressTest, RejectsWhatIsNotANumericAddress) {
  for (absl::string_view bad : {"", "localhost", "1.2.3", "256.1.1.1", "1.2.3.4.5", "[::1", "::1]",
                                "[]", "::g", "127.0.0.1:80", " 127.0.0.1"}) {
    absl::StatusOr<InetAddress> parsed = InetAddress::Parse(bad, 1);
    EXPECT_FALSE(parsed.ok()) << "'" << bad << "' parsed as " << parsed->ToString();
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(InetAddressTest, Ipv4MappedIpv6IsShownAndIdentifiedAsIpv4) {
  InetAddress mapped = Address("::ffff:192.0.2.7", 4242);
  ASSERT_TRUE(mapped.is_ipv6());
  EXPECT_EQ(mapped.IpString(), "192.0.2.7");
  EXPECT_EQ(mapped.ToString(), "192.0.2.7:4242");

  InetAddress plain = mapped.Unmapped();
  EXPECT_EQ(plain.family(), AF_INET);
  EXPECT_EQ(plain.port(), 4242);
  EXPECT_EQ(plain.ToString(), "192.0.2.7:4242");
  EXPECT_EQ(plain.length(), sizeof(sockaddr_in));
  const auto* raw = reinterpret_cast<const sockaddr_in*>(plain.sockaddr_ptr());
  EXPECT_EQ(ntohl(raw->sin_addr.s_addr), 0xC0000207u);
}

TEST(InetAddressTest, UnmappedLeavesOtherAddressesAlone) {
  EXPECT_EQ(Address("127.0.0.1", 5).Unmapped().ToString(), "127.0.0.1:5");
  InetAddress v6 = Address("::1", 5).Unmapped();
  EXPECT_TRUE(v6.is_ipv6());
  EXPECT_EQ(v6.ToString(), "[::1]:5");
  // IPv4-compatible (::a.b.c.d, deprecated) is not IPv4-mapped.
  EXPECT_TRUE(Address("::192.0.2.7", 5).Unmapped().is_ipv6());
}

TEST(InetAddressTest, SetPortForBothFamilies) {
  InetAddress v4 = Address("10.0.0.1", 1);
  v4.set_port(65535);
  EXPECT_EQ(v4.port(), 65535);
  EXPECT_EQ(v4.ToString(), "10.0.0.1:65535");
  InetAddress v6 = Address("fe80::1", 1);
  v6.set_port(8080);
  EXPECT_EQ(v6.ToString(), "[fe80::1]:8080");
}

TEST(InetAddressTest, FromSockaddrRoundTrip) {
  for (InetAddress original : {Address("192.168.1.20", 1234), Address("2001:db8::5", 4321)}) {
    InetAddress copy = InetAddress::FromSockaddr(original.sockaddr_ptr(), original.length());
    EXPECT_EQ(copy.ToString(), original.ToString());
    EXPECT_EQ(copy.family(), original.family());
  }
}

TEST(InetAddressTest, ResolveNumericNeedsNoResolver) {
  absl::StatusOr<std::vector<InetAddress>> found =
      InetAddress::Resolve("127.0.0.1", 99, SOCK_STREAM);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].ToString(), "127.0.0.1:99");
  found = InetAddress::Resolve("[::1]", 98, SOCK_DGRAM);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)[0].ToString(), "[::1]:98");
}

TEST(InetAddressTest, ResolveLocalhostSetsThePort) {
  absl::StatusOr<std::vector<InetAddress>> found =
      InetAddress::Resolve("localhost", 7008, SOCK_STREAM);
  if (!found.ok()) GTEST_SKIP() << "no resolver for localhost here: " << found.status();
  ASSERT_FALSE(found->empty());
  for (const InetAddress& address : *found) {
    EXPECT_EQ(address.port(), 7008);
    EXPECT_TRUE(address.IpString() == "127.0.0.1" || address.IpString() == "::1")
        << address.ToString();
  }
}

TEST(InetAddressTest, ResolveFailsForANameThatDoesNotExist) {
  // .invalid is reserved (RFC 2606): it never resolves.
  absl::StatusOr<std::vector<InetAddress>> found =
      InetAddress::Resolve("no-such-host.invalid", 1, SOCK_STREAM);
  EXPECT_FALSE(found.ok());
}

// ---------------------------------------------------------------------------
// Socket

class SocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Socket> listener = Socket::Listen(Address("127.0.0.1", 0));
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = *std::move(listener);
    absl::StatusOr<InetAddress> bound = listener_.LocalAddress();
    ASSERT_TRUE(bound.ok()) << bound.status();
    address_ = *bound;
  }

  // A connected client and the accepted server end.
  std::pair<Socket, Socket> Connect() {
    absl::StatusOr<Socket> client = Socket::Connect(address_);
    EXPECT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Socket> server = listener_.Accept();
    EXPECT_TRUE(server.ok()) << server.status();
    if (!client.ok() || !server.ok()) return {};
    return {*std::move(client), *std::move(server)};
  }

  Socket listener_;
  InetAddress address_;
};

TEST_F(SocketTest, ListenOnPortZeroPicksAPort) {
  EXPECT_EQ(address_.IpString(), "127.0.0.1");
  EXPECT_NE(address_.port(), 0);
  EXPECT_TRUE(listener_.valid());
}

TEST_F(SocketTest, ConnectAcceptAndAddresses) {
  absl::StatusOr<Socket> client = Socket::Connect(address_);
  ASSERT_TRUE(client.ok()) << client.status();
  InetAddress peer;
  absl::StatusOr<Socket> server = listener_.Accept(&peer);
  ASSERT_TRUE(server.ok()) << server.status();

  absl::StatusOr<InetAddress> client_local = client->LocalAddress();
  absl::StatusOr<InetAddress> client_peer = client->PeerAddress();
  absl::StatusOr<InetAddress> server_peer = server->PeerAddress();
  ASSERT_TRUE(client_local.ok() && client_peer.ok() && server_peer.ok());
  EXPECT_EQ(client_peer->ToString(), address_.ToString());
  EXPECT_EQ(peer.ToString(), client_local->ToString()) << "Accept fills in the peer";
  EXPECT_EQ(server_peer->ToString(), client_local->ToString());
  EXPECT_EQ(client->TakeError(), 0);
}

TEST_F(SocketTest, SocketsAreCloseOnExec) {
  auto [client, server] = Connect();
  for (int fd : {listener_.fd(), client.fd(), server.fd()}) {
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << fd;
  }
  absl::StatusOr<Socket> udp = Socket::Create(AF_INET, SOCK_DGRAM);
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_TRUE(fcntl(udp->fd(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(SocketTest, SendAndReceiveBothWays) {
  auto [client, server] = Connect();
  ASSERT_TRUE(client.SendAll("hello server").ok());
  char buffer[64];
  ASSERT_TRUE(server.ReceiveExactly(buffer, 12).ok());
  EXPECT_EQ(std::string(buffer, 12), "hello server");

  ASSERT_TRUE(server.SendAll("hi").ok());
  absl::StatusOr<size_t> n = client.ReceiveSome(buffer, sizeof(buffer));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_GE(*n, 1u);
  size_t got = *n;
  if (got < 2) {
    ASSERT_TRUE(client.ReceiveExactly(buffer + got, 2 - got).ok());
    got = 2;
  }
  EXPECT_EQ(std::string(buffer, got), "hi");
}

TEST_F(SocketTest, LargeTransferBlocksAndCompletes) {
  auto [client, server] = Connect();
  std::string data(4 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  std::thread sender([&, &client = client] { EXPECT_TRUE(client.SendAll(data).ok()); });
  std::string received(data.size(), '\0');
  EXPECT_TRUE(server.ReceiveExactly(received.data(), received.size()).ok());
  sender.join();
  EXPECT_TRUE(received == data);
}

TEST_F(SocketTest, ShutdownWriteSendsEndOfStreamButKeepsReceiving) {
  auto [client, server] = Connect();
  ASSERT_TRUE(client.SendAll("last words").ok());
  ASSERT_TRUE(client.ShutdownWrite().ok());

  char buffer[32];
  ASSERT_TRUE(server.ReceiveExactly(buffer, 10).ok());
  EXPECT_EQ(std::string(buffer, 10), "last words");
  absl::StatusOr<size_t> n = server.ReceiveSome(buffer, sizeof(buffer));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u) << "end of stream";

  // The other direction still works.
  ASSERT_TRUE(server.SendAll("reply").ok());
  ASSERT_TRUE(client.ReceiveExactly(buffer, 5).ok());
  EXPECT_EQ(std::string(buffer, 5), "reply");
}

TEST_F(SocketTest, ReceiveExactlyReportsAShortStream) {
  auto [client, server] = Connect();
  ASSERT_TRUE(client.SendAll("abc").ok());
  client.Close();
  EXPECT_FALSE(client.valid());
  char buffer[10];
  size_t got = 99;
  absl::Status status = server.ReceiveExactly(buffer, 10, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << status;
  EXPECT_EQ(got, 3u);
  EXPECT_EQ(std::string(buffer, 3), "abc");
}

TEST_F(SocketTest, SendingToAClosedPeerFailsWithoutSigpipe) {
  auto [client, server] = Connect();
  server.Close();
  // The first sends may still be accepted locally; a reset follows. A
  // SIGPIPE would kill the test binary here.
  absl::Status status;
  const std::string chunk(65536, 'x');
  for (int i = 0; i < 1000 && status.ok(); ++i) status = client.SendAll(chunk);
  EXPECT_FALSE(status.ok());
}

TEST_F(SocketTest, ConnectToAPortNobodyListensOnFails) {
  const InetAddress closed = address_;
  listener_.Close();
  absl::StatusOr<Socket> client = Socket::Connect(closed);
  EXPECT_FALSE(client.ok());
}

TEST_F(SocketTest, ListenOnABusyPortFails) {
  absl::StatusOr<Socket> second = Socket::Listen(address_);
  EXPECT_FALSE(second.ok()) << "a second listener took " << address_.ToString();
}

TEST_F(SocketTest, ConnectFromAChosenLocalAddress) {
  // All of 127.0.0.0/8 is loopback on Linux; another system may lack
  // 127.0.0.2, in which case binding fails and the test is skipped.
  const InetAddress local = Address("127.0.0.2", 0);
  absl::StatusOr<Socket> client = Socket::Connect(address_, &local);
  if (!client.ok()) GTEST_SKIP() << "127.0.0.2 is not usable here: " << client.status();
  InetAddress peer;
  absl::StatusOr<Socket> server = listener_.Accept(&peer);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(peer.IpString(), "127.0.0.2");
}

TEST_F(SocketTest, NonBlockingReceiveWithNothingThereIsAnError) {
  auto [client, server] = Connect();
  ASSERT_TRUE(server.SetNonBlocking(true).ok());
  char byte;
  absl::StatusOr<size_t> n = server.ReceiveSome(&byte, 1);
  EXPECT_FALSE(n.ok());
  ASSERT_TRUE(server.SetNonBlocking(false).ok());
  ASSERT_TRUE(client.SendAll("z").ok());
  n = server.ReceiveSome(&byte, 1);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
}

TEST_F(SocketTest, ReceiveTimeoutEndsABlockingReceive) {
  auto [client, server] = Connect();
  ASSERT_TRUE(server.SetReceiveTimeout(absl::Milliseconds(20)).ok());
  char byte;
  absl::StatusOr<size_t> n = server.ReceiveSome(&byte, 1);
  EXPECT_FALSE(n.ok()) << "nothing was sent";
}

TEST_F(SocketTest, OptionsCanBeSet) {
  auto [client, server] = Connect();
  EXPECT_TRUE(client.SetNoDelay(true).ok());
  EXPECT_TRUE(client.SetReuseAddress(true).ok());
  EXPECT_TRUE(client.SetSendBufferSize(8192).ok());
  EXPECT_TRUE(client.SetReceiveBufferSize(8192).ok());
  int value = 0;
  socklen_t length = sizeof(value);
  ASSERT_EQ(getsockopt(client.fd(), SOL_SOCKET, SO_SNDBUF, &value, &length), 0);
  EXPECT_GE(value, 8192);
}

TEST(SocketOwnershipTest, MoveReleaseAndClose) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  const int fd = pair->first.fd();
  Socket moved(std::move(pair->first));
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_FALSE(pair->first.valid());

  Socket assigned;
  EXPECT_FALSE(assigned.valid());
  assigned = std::move(moved);
  EXPECT_EQ(assigned.fd(), fd);
  EXPECT_FALSE(moved.valid());

  const int released = assigned.Release();
  EXPECT_EQ(released, fd);
  EXPECT_FALSE(assigned.valid());
  EXPECT_NE(fcntl(fd, F_GETFD), -1) << "Release does not close";
  Socket owner(released);
  owner.Close();
  EXPECT_FALSE(owner.valid());
  owner.Close();  // harmless
  EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "Close closes";
}

TEST(SocketIpv6Test, DualStackListenerAcceptsIpv4AsMapped) {
  absl::StatusOr<Socket> listener = Socket::Listen(Address("::", 0));
  if (!listener.ok()) GTEST_SKIP() << "no IPv6 here: " << listener.status();
  absl::StatusOr<InetAddress> bound = listener->LocalAddress();
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_TRUE(bound->is_ipv6());
  EXPECT_EQ(bound->ToString(), "[::]:" + std::to_string(bound->port()));

  // Reach it over IPv4: the peer shows up as ::ffff:127.0.0.1.
  absl::StatusOr<Socket> client = Socket::Connect(Address("127.0.0.1", bound->port()));
  ASSERT_TRUE(client.ok()) << client.status();
  InetAddress peer;
  absl::StatusOr<Socket> server = listener->Accept(&peer);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(peer.is_ipv6()) << "accepted on an IPv6 socket";
  EXPECT_EQ(peer.IpString(), "127.0.0.1");
  EXPECT_EQ(peer.Unmapped().family(), AF_INET);
  EXPECT_EQ(peer.Unmapped().IpString(), "127.0.0.1");

  // And over IPv6 loopback, if there is one.
  absl::StatusOr<Socket> v6_client = Socket::Connect(Address("::1", bound->port()));
  if (v6_client.ok()) {
    absl::StatusOr<Socket> v6_server = listener->Accept(&peer);
    ASSERT_TRUE(v6_server.ok()) << v6_server.status();
    EXPECT_EQ(peer.IpString(), "::1");
    EXPECT_TRUE(peer.Unmapped().is_ipv6());
  }
}

TEST(SocketPairTest, TcpPairHelperIsConnected) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeTcpPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(pair->first.SendAll("x").ok());
  char byte = 0;
  ASSERT_TRUE(pair->second.ReceiveExactly(&byte, 1).ok());
  EXPECT_EQ(byte, 'x');
}

}  // namespace
}  // namespace switchboard

// ---------------------------------------------------------------------------
// Errors by number, and the port search built on them

namespace switchboard {
namespace {

TEST(ErrnoStatusTest, KeepsTheNumberBesideTheMessage) {
  const absl::Status status = ErrnoStatus(EADDRINUSE, "bind");
  EXPECT_EQ(ErrnoOf(status), EADDRINUSE);
  EXPECT_EQ(status.code(), absl::ErrnoToStatus(EADDRINUSE, "").code());
  EXPECT_EQ(status.message(), absl::ErrnoToStatus(EADDRINUSE, "bind").message());
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoOf(absl::UnavailableError("bind: Address already in use")), 0)
      << "text that looks like an errno must not count as one";
}

TEST(SocketErrorsTest, AFailedListenCarriesItsErrno) {
  absl::StatusOr<Socket> first = Socket::Listen(Address("127.0.0.1", 0));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<InetAddress> taken = first->LocalAddress();
  ASSERT_TRUE(taken.ok());
  absl::StatusOr<Socket> second = Socket::Listen(*taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(ErrnoOf(second.status()), EADDRINUSE) << second.status();
}

TEST(BindWithPortSearchTest, SkipsBusyPortsAndSaysWhichOnes) {
  // Two adjacent ports held by us; the search must land on the third.
  std::vector<Socket> held;
  uint16_t base = 0;
  for (int tries = 0; tries < 50 && held.size() < 2; ++tries) {
    held.clear();
    absl::StatusOr<Socket> a = Socket::Listen(Address("127.0.0.1", 0));
    ASSERT_TRUE(a.ok());
    base = a->LocalAddress()->port();
    if (base >= 65000) continue;
    absl::StatusOr<Socket> b = Socket::Listen(Address("127.0.0.1", base + 1));
    if (!b.ok()) continue;
    held.push_back(*std::move(a));
    held.push_back(*std::move(b));
  }
  ASSERT_EQ(held.size(), 2u) << "found no two adjacent free ports";
  std::vector<uint16_t> skipped;
  absl::StatusOr<Socket> found =
      BindWithPortSearch(Address("127.0.0.1", base), 5, &skipped,
                         [](const InetAddress& candidate) { return Socket::Listen(candidate); });
  if (!found.ok() && ErrnoOf(found.status()) == EADDRINUSE) {
    GTEST_SKIP() << "another program took the ports after ours";
  }
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(skipped, (std::vector<uint16_t>{base, static_cast<uint16_t>(base + 1)}));
  EXPECT_GT(found->LocalAddress()->port(), base + 1);
}

TEST(BindWithPortSearchTest, WithoutASearchABusyPortIsTheError) {
  absl::StatusOr<Socket> held = Socket::Listen(Address("127.0.0.1", 0));
  ASSERT_TRUE(held.ok());
  std::vector<uint16_t> skipped;
  absl::StatusOr<Socket> again =
      BindWithPortSearch(*held->LocalAddress(), 0, &skipped,
                         [](const InetAddress& candidate) { return Socket::Listen(candidate); });
  EXPECT_EQ(ErrnoOf(again.status()), EADDRINUSE);
  EXPECT_TRUE(skipped.empty());
}

TEST(SocketErrorsTest, ReusePortListenersShareAPortOthersCannot) {
  ListenOptions shared;
  shared.reuse_port = true;
  absl::StatusOr<Socket> first = Socket::Listen(Address("127.0.0.1", 0), shared);
  ASSERT_TRUE(first.ok()) << first.status();
  const InetAddress address = *first->LocalAddress();
  absl::StatusOr<Socket> second = Socket::Listen(address, shared);
  EXPECT_TRUE(second.ok()) << second.status();
  absl::StatusOr<Socket> plain = Socket::Listen(address);
  EXPECT_EQ(ErrnoOf(plain.status()), EADDRINUSE) << plain.status();
}

TEST(BindWithPortSearchTest, OtherErrorsAreNotSearchedPast) {
  int calls = 0;
  std::vector<uint16_t> skipped;
  absl::StatusOr<Socket> result =
      BindWithPortSearch(Address("127.0.0.1", 4000), 10, &skipped, [&calls](const InetAddress&) {
        ++calls;
        return absl::StatusOr<Socket>(ErrnoStatus(EACCES, "bind"));
      });
  EXPECT_EQ(ErrnoOf(result.status()), EACCES);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(skipped.empty());
}

}  // namespace
}  // namespace switchboard
