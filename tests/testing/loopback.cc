// Copyright Switchboard authors.

#include "tests/testing/loopback.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "glog/logging.h"
#include "gtest/gtest.h"
#include "reactor/inet_address.h"

namespace switchboard::testing {

Socket ConnectTo(absl::string_view host, int port, absl::string_view from, absl::Duration timeout) {
  absl::StatusOr<InetAddress> peer = InetAddress::Parse(host, static_cast<uint16_t>(port));
  CHECK(peer.ok()) << peer.status();
  absl::StatusOr<InetAddress> local;
  if (!from.empty()) {
    local = InetAddress::Parse(from, 0);
    CHECK(local.ok()) << local.status();
  }
  absl::StatusOr<Socket> socket = Socket::Connect(*peer, from.empty() ? nullptr : &*local);
  CHECK(socket.ok()) << socket.status();
  CHECK(socket->SetReceiveTimeout(timeout).ok());
  return *std::move(socket);
}

std::string Echo(Socket& socket, absl::string_view data) {
  EXPECT_TRUE(socket.SendAll(data).ok());
  std::string got(data.size(), '\0');
  absl::Status s = socket.ReceiveExactly(got.data(), got.size());
  EXPECT_TRUE(s.ok()) << s;
  return got;
}

int UnusedTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace switchboard::testing
