// Copyright Switchboard authors.
//
// The benchmarks' reference echo loop echoes correctly: small and large
// writes, many connections at once, and a clean stop with clients open.

#include "bench/reference_echo_server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"

namespace switchboard {
namespace {

Socket ConnectTo(uint16_t port) {
  absl::StatusOr<Socket> socket = Socket::Connect(*InetAddress::Parse("127.0.0.1", port));
  EXPECT_TRUE(socket.ok()) << socket.status();
  EXPECT_TRUE(socket->SetReceiveTimeout(absl::Seconds(10)).ok());
  return *std::move(socket);
}

TEST(ReferenceEchoServerTest, EchoesSmallAndLargeWritesOnManyConnections) {
  ReferenceEchoServer server;
  absl::StatusOr<uint16_t> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  std::vector<Socket> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(ConnectTo(*port));
  for (int i = 0; i < 50; ++i) {
    const std::string message = "hello " + std::to_string(i);
    ASSERT_TRUE(clients[i].SendAll(message).ok());
    std::string back(message.size(), '\0');
    ASSERT_TRUE(clients[i].ReceiveExactly(back.data(), back.size()).ok());
    EXPECT_EQ(back, message);
  }
  // More than the loop's buffer and the socket buffers: the backlog path.
  // Sent from a thread while this one reads, so neither side blocks.
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  Socket& client = clients[0];
  std::thread sender([&] { EXPECT_TRUE(client.SendAll(big).ok()); });
  std::string back(big.size(), '\0');
  ASSERT_TRUE(client.ReceiveExactly(back.data(), back.size()).ok());
  sender.join();
  EXPECT_TRUE(back == big);
  EXPECT_GT(server.CpuSeconds(), 0);
  server.Stop();  // clients still open
}

}  // namespace
}  // namespace switchboard
