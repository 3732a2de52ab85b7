// Copyright Switchboard authors.

#include "tests/reactor/udp_socket_test_util.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace switchboard::udp_socket_test {

InetAddress Address(absl::string_view host, uint16_t port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(host, port);
  CHECK(address.ok()) << address.status();
  return *address;
}

bool HaveIpv6Loopback() {
  absl::StatusOr<Socket> socket = Socket::Create(AF_INET6, SOCK_DGRAM);
  return socket.ok() && socket->Bind(Address("::1")).ok();
}

void SetIntOption(int fd, int level, int name, int value) {
  CHECK_EQ(setsockopt(fd, level, name, &value, sizeof value), 0) << strerror(errno);
}

std::string Numbered(uint32_t i, size_t size) {
  CHECK_GE(size, 4u);
  std::string data(size, '\0');
  std::memcpy(data.data(), &i, 4);
  for (size_t j = 4; j < size; ++j) data[j] = static_cast<char>((i * 31 + j * 7) & 0xff);
  return data;
}

std::string Pattern(int i, size_t size) {
  std::string data(size, '\0');
  for (size_t j = 0; j < size; ++j) data[j] = static_cast<char>((i * 131 + j * 13 + 5) & 0xff);
  return data;
}

Client::Client(absl::string_view host, int receive_buffer) {
  const InetAddress local = Address(host);
  absl::StatusOr<Socket> socket = Socket::Create(local.family(), SOCK_DGRAM);
  CHECK(socket.ok()) << socket.status();
  socket_ = *std::move(socket);
  CHECK(socket_.SetReceiveBufferSize(receive_buffer).ok());
  CHECK(socket_.Bind(local).ok());
  CHECK(socket_.SetReceiveTimeout(kTimeout).ok());
  absl::StatusOr<InetAddress> bound = socket_.LocalAddress();
  CHECK(bound.ok()) << bound.status();
  address_ = *bound;
}

void Client::SendTo(const InetAddress& to, absl::string_view data) {
  const ssize_t n =
      sendto(socket_.fd(), data.data(), data.size(), 0, to.sockaddr_ptr(), to.length());
  CHECK_EQ(n, static_cast<ssize_t>(data.size())) << "sendto: " << strerror(errno);
}

std::optional<std::string> Client::Receive(InetAddress* from, bool wait) {
  char data[65536];
  sockaddr_storage storage;
  socklen_t length = sizeof storage;
  ssize_t n;
  int attempts = 0;
  do {
    length = sizeof storage;
    n = recvfrom(socket_.fd(), data, sizeof data, wait ? 0 : MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&storage), &length);
  } while (n < 0 && errno == EINTR && ++attempts < 100);
  if (n < 0) return std::nullopt;
  if (from != nullptr) {
    *from = InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
  }
  return std::string(data, static_cast<size_t>(n));
}

size_t Client::Drain() {
  size_t n = 0;
  while (n < 1000000 && Receive(nullptr, /*wait=*/false).has_value()) ++n;
  return n;
}

Collector::Collector(Client* client, size_t count)
    : thread_([this, client, count] {
        for (size_t i = 0; i < count; ++i) {
          std::optional<std::string> datagram = client->Receive();
          if (!datagram.has_value()) break;  // kTimeout without one
          items_.push_back(*std::move(datagram));
        }
      }) {}

Collector::~Collector() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Collector::Wait() {
  thread_.join();
  return std::move(items_);
}

void Inbox::Add(const ReceivedDatagram& datagram) {
  absl::MutexLock lock(&mutex_);
  items_.push_back(
      Seen{datagram.from, std::string(datagram.data), datagram.size, datagram.truncated()});
}

bool Inbox::WaitFor(size_t n) {
  absl::MutexLock lock(&mutex_);
  const auto enough = [this, n] { return items_.size() >= n; };
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), kTimeout);
}

std::vector<Seen> Inbox::Get() {
  absl::MutexLock lock(&mutex_);
  return items_;
}

Server::Server(absl::string_view host, UdpSocketOptions options, PollerKind kind) : thread_(kind) {
  thread_.RunSync([&] {
    absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
        UdpSocket::Bind(thread_.loop(), Address(host), options);
    CHECK(socket.ok()) << socket.status();
    socket_ = *std::move(socket);
    address_ = socket_->local_address();
    // Room for a burst that arrives while the loop is busy.
    SetIntOption(socket_->fd(), SOL_SOCKET, SO_RCVBUF, 4 << 20);
  });
}

void Server::Destroy() {
  thread_.RunSync([&] {
    socket_.reset();
    EXPECT_EQ(thread_.loop()->watcher_count(), 0u) << "the UdpSocket left its watcher";
  });
}

void Server::Run(const std::function<void(UdpSocket&)>& fn) {
  thread_.RunSync([&] { fn(*socket_); });
}

void Server::Start(bool echo) {
  Run([this, echo](UdpSocket& socket) {
    UdpSocket* self = &socket;
    Inbox* inbox = &inbox_;
    socket.Start([self, inbox, echo](const ReceivedDatagram& datagram) {
      inbox->Add(datagram);
      if (echo) self->SendTo(datagram.from, datagram.data);
    });
  });
}

Counters Server::counters() {
  Counters c{};
  Run([&](UdpSocket& s) { c = Counters{s.received(), s.sent(), s.dropped(), s.queued()}; });
  return c;
}

bool Server::Eventually(const std::function<bool(UdpSocket&)>& done) {
  const absl::Time deadline = absl::Now() + kTimeout;
  for (;;) {
    bool ok = false;
    Run([&](UdpSocket& s) { ok = done(s); });
    if (ok) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

}  // namespace switchboard::udp_socket_test
